"""Training job configurations: sdk.md §3.2 (configs) and §5."""

from modelarts.estimator import Estimator


def estimator(session, **extra):
    kwargs = dict(modelarts_session=session, framework_type='PyTorch', framework_version='PyTorch-1.0.0-python3.6',
                  code_dir='/bucket/src/', boot_file='/bucket/src/boot.py', output_path='/bucket/output/',
                  train_instance_type='modelarts.vm.cpu.2u', train_instance_count=1)
    kwargs.update(extra)
    return Estimator(**kwargs)


def test_config_samples(session, account_session):
    est = estimator(session)
    job_config_instance = est.create_job_configs(config_name='my_job_config', inputs='/bucket/data/train/',
                                                 config_desc='my job config')
    assert job_config_instance.config_name == 'my_job_config'
    second = est.create_job_configs(config_name='my_job_config2', dataset_id='4AZNvFkN7KYr5EdhFkH',
                                    dataset_version_id='UOF9BIeSGArwVt0oI6T', config_desc='my job config')
    assert second.config_name == 'my_job_config2'

    job_paras_list = Estimator.get_job_configs_list(modelarts_session=session, per_page=10, page=1,
                                                    sort_by="create_time", order="asc", search_content="my_job_config")
    assert job_paras_list["is_success"] is True and job_paras_list["config_total_count"] == 2
    assert [c["config_name"] for c in job_paras_list["configs"]] == ['my_job_config', 'my_job_config2']
    assert job_paras_list["configs"][0]["engine_name"] == "PyTorch"
    by_name = Estimator.get_job_configs_list(modelarts_session=account_session, sort_by="job_name", order="desc",
                                             search_content="my_job_config")
    assert [c["config_name"] for c in by_name["configs"]] == ['my_job_config2', 'my_job_config']

    job_config_instance_list = Estimator.get_job_configs_object_list(
        modelarts_session=session, is_show=True, per_page=10, page=1, sort_by="create_time", order="asc",
        search_content="my_job_config")
    assert [c.config_name for c in job_config_instance_list] == ['my_job_config', 'my_job_config2']

    job_paras_info = Estimator(modelarts_session=session, config_name="my_job_config").get_job_configs_info()
    assert job_paras_info["is_success"] is True and job_paras_info["config_desc"] == 'my job config'
    assert job_paras_info["data_url"] == '/bucket/data/train/' and job_paras_info["worker_server_num"] == 1
    assert job_config_instance.get_job_configs_info()["config_name"] == 'my_job_config'
    assert job_config_instance_list[1].get_job_configs_info()["dataset_id"] == '4AZNvFkN7KYr5EdhFkH'

    update_info = est.update_job_configs(config_name='my_job_config', inputs='/bucket/dataset/', config_desc='update')
    assert update_info["is_success"] is True
    updated = job_config_instance.get_job_configs_info()
    assert updated["config_desc"] == 'update' and updated["data_url"] == '/bucket/dataset/'

    assert Estimator(modelarts_session=session, config_name="my_job_config").delete_job_configs()["is_success"]
    assert job_config_instance_list[1].delete_job_configs()["is_success"] is True
    gone = job_config_instance.get_job_configs_info()
    assert gone["is_success"] is False and gone["error_msg"] and gone["error_code"]


def test_catalogs(session):
    types = Estimator.get_train_instance_types(modelarts_session=session)
    assert 'modelarts.vm.cpu.2u' in types and all(isinstance(t, str) for t in types)
    frameworks = Estimator.get_framework_list(modelarts_session=session)
    assert {"framework_type": "PyTorch", "framework_version": "PyTorch-1.0.0-python3.6"} in frameworks
    algorithms = Estimator.get_built_in_algorithms(modelarts_session=session)
    assert algorithms["is_success"] is True and algorithms["model_total_count"] >= 1
    lr = [m for m in algorithms["models"] if m["model_name"] == "Linear_Regression"][0]
    assert isinstance(lr["parameter"], list) and lr["parameter"][0]["label"] == "lr"

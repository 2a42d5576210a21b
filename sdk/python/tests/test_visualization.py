"""Visualization jobs (sdk.md §6, api.md VJ-01..VJ-07) against real TensorBoard processes."""

from conftest import STORAGE, wait_until
from modelarts.estimator import VisualizationJob

ACTIVE = {1, 2, 4, 7, 8}
STOPPED = {12}


def events_dir(name):
    d = STORAGE / "bucket/train" / name
    d.mkdir(parents=True, exist_ok=True)
    return "/bucket/train/%s/" % name


def status_of(session, visualization_id):
    return VisualizationJob(modelarts_session=session, visualization_id=visualization_id) \
        .get_visualization_job_info().get("status")


def test_create_info_update_restart_delete(session):
    job = VisualizationJob(modelarts_session=session)
    job_visualization_instance = job.create_visualization_job(train_url=events_dir("a"), job_name='visualization_job',
                                                              job_desc='my visualization job')
    assert job_visualization_instance.is_success is True
    assert job_visualization_instance.job_name == 'visualization_job'
    assert job_visualization_instance.job_id and job_visualization_instance.visualization_id
    assert isinstance(job_visualization_instance.create_time, int)

    info = job_visualization_instance.get_visualization_job_info()
    assert info["is_success"] is True and info["train_url"] == events_dir("a") and info["job_desc"] == 'my visualization job'
    assert job_visualization_instance.update_visualization_job(job_desc='new desc')["is_success"] is True
    assert job_visualization_instance.get_visualization_job_info()["job_desc"] == 'new desc'

    wait_until(lambda: status_of(session, job_visualization_instance.job_id) == 8, what="viz running")
    assert job_visualization_instance.stop_visualization_job()["is_success"] is True
    wait_until(lambda: status_of(session, job_visualization_instance.job_id) in STOPPED, what="viz stopped")
    assert job_visualization_instance.restart_visualization_job()["is_success"] is True
    wait_until(lambda: status_of(session, job_visualization_instance.job_id) in ACTIVE, what="viz restarted")
    assert job_visualization_instance.delete_visualization_job()["is_success"] is True
    gone = job_visualization_instance.get_visualization_job_info()
    assert gone["is_success"] is False and gone["error_msg"]


def test_three_ways_of_stopping(session, capsys):
    job = VisualizationJob(modelarts_session=session)
    created = [job.create_visualization_job(train_url=events_dir("s%d" % i), job_name='viz-stop-%d' % i)
               for i in range(3)]
    for c in created:
        wait_until(lambda: status_of(session, c.job_id) == 8, what="viz running")

    # 1. The reference's stop example, unchanged but for the id.
    job = VisualizationJob(modelarts_session=session, visualization_id=str(created[0].job_id))
    status = job.stop_visualization_job()
    assert status["is_success"] is True
    # 2. The object from create.
    assert created[1].stop_visualization_job()["is_success"] is True
    # 3. The object from the object list.
    listed = VisualizationJob.get_visualization_job_object_list(modelarts_session=session, search_content='viz-stop-2')
    assert [j.job_name for j in listed] == ['viz-stop-2']
    # Datetimes in object lists; the access secret of service_url in no table or repr.
    import datetime
    assert isinstance(listed[0].create_time, datetime.datetime)
    secret = listed[0].service_url.split("trainyard_secret=")[1]
    assert secret not in capsys.readouterr().out and secret not in repr(listed[0])
    assert listed[0].stop_visualization_job()["is_success"] is True
    for c in created:
        wait_until(lambda: status_of(session, c.job_id) in STOPPED, what="viz stopped")
        c.delete_visualization_job()


def test_list(session):
    job = VisualizationJob(modelarts_session=session)
    made = [job.create_visualization_job(train_url=events_dir("l%d" % i), job_name='viz-list-%d' % i) for i in range(2)]
    job_list = VisualizationJob.get_visualization_job_list(modelarts_session=session, per_page=10, page=1,
                                                           sort_by="create_time", order="asc",
                                                           search_content="viz-list")
    assert job_list["is_success"] is True and job_list["job_total_count"] == 2
    assert [j["job_name"] for j in job_list["jobs"]] == ['viz-list-0', 'viz-list-1']
    assert all("service_url" in j and "train_url" in j for j in job_list["jobs"])
    by_status = VisualizationJob.get_visualization_job_list(modelarts_session=session, status=8, sortBy="job_name",
                                                            search_content="viz-list")
    assert by_status["is_success"] is True
    for m in made:
        m.delete_visualization_job()

//! Run planning: arguments, command lines, mounts and each worker's environment.

use crate::plan::{
    app_folder, arguments, container_command, container_environment, expand_user_command,
    host_command, mounts, worker_count, workers, Cohort, Entry, Folders, Mount,
};
use std::path::{Path, PathBuf};

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}

fn params() -> Vec<(String, String)> {
    vec![("lr".to_owned(), "0.1".to_owned())]
}

#[test]
fn arguments_name_folders_as_the_workers_see_them() {
    let (data, train) = (Path::new("/d"), Path::new("/t"));
    assert_eq!(
        arguments(false, Some(data), Some(train), &params()),
        strings(&["--data_url=/d", "--train_url=/t", "--lr=0.1"])
    );
    assert_eq!(
        arguments(true, Some(data), Some(train), &params()),
        strings(&[
            "--data_url=/home/work/data_url",
            "--train_url=/home/work/train_url",
            "--lr=0.1"
        ])
    );
    assert_eq!(arguments(true, None, None, &[]), Vec::<String>::new());
}

#[test]
fn host_commands_run_the_boot_file_in_the_code_folder() {
    let code = Path::new("/run/code");
    let args = strings(&["--x=1"]);
    let builtin: Entry<&str> = Entry::Builtin(PathBuf::from("algo/train.py"));
    assert_eq!(
        host_command(builtin, code, &args),
        Ok(strings(&["python3", "/run/code/algo/train.py", "--x=1"]))
    );
    let engine: Entry<&str> = Entry::Engine {
        command: Ok(strings(&["python3", "-u"])),
        boot_file: Ok(PathBuf::from("main.py")),
    };
    assert_eq!(
        host_command(engine, code, &args),
        Ok(strings(&["python3", "-u", "/run/code/main.py", "--x=1"]))
    );
    // The engine is looked at before the boot file.
    let both_gone: Entry<&str> = Entry::Engine {
        command: Err("engine"),
        boot_file: Err("boot"),
    };
    assert_eq!(host_command(both_gone, code, &args), Err("engine"));
}

#[test]
fn container_commands_run_the_user_command_or_the_boot_file() {
    let args = strings(&["--data_url=/home/work/data_url", "--name=a b"]);
    let gone =
        || -> (Result<Vec<String>, &str>, Result<PathBuf, &str>) { (Err("engine"), Err("boot")) };
    let (engine, boot) = gone();
    assert_eq!(
        container_command(
            Some("python {python_file_parameter}"),
            engine,
            boot,
            "app",
            &args
        ),
        Ok(strings(&[
            "/bin/sh",
            "-c",
            "python '--data_url=/home/work/data_url' '--name=a b'"
        ]))
    );
    let (engine, boot) = gone();
    assert_eq!(
        container_command(None, engine, boot, "app", &args),
        Err("boot")
    );
    let command = container_command::<&str>(
        None,
        Ok(strings(&["python3"])),
        Ok(PathBuf::from("src/main.py")),
        "app",
        &args[..1],
    );
    assert_eq!(
        command,
        Ok(strings(&[
            "python3",
            "/home/work/user-job-dir/app/src/main.py",
            "--data_url=/home/work/data_url"
        ]))
    );
}

#[test]
fn user_commands_expand_the_placeholder_only() {
    let args = strings(&["--a=1", "--b=it's"]);
    assert_eq!(
        expand_user_command("run {python_file_parameter} && done", &args),
        r#"run '--a=1' "--b=it's" && done"#
    );
    assert_eq!(expand_user_command("run", &args), "run");
}

#[test]
fn the_container_code_folder_is_app_urls_last_folder() {
    assert_eq!(app_folder(Some("/usr/app/")), "app");
    assert_eq!(app_folder(Some("/usr/my-code/./")), "my-code");
    assert_eq!(app_folder(Some("/usr/..")), "app");
    assert_eq!(app_folder(None), "app");
}

#[test]
fn mounts_come_in_a_fixed_order() {
    let f = Folders {
        code: Path::new("/r/code"),
        app: "app",
        run_train: Path::new("/r/run_train.sh"),
        data: Some(Path::new("/d")),
        train: Some(Path::new("/t")),
        log: Some(Path::new("/l")),
        volumes: vec![(PathBuf::from("/h"), "/in".to_owned(), true)],
    };
    let m = |h: &str, c: &str, ro| Mount {
        host: PathBuf::from(h),
        container: c.to_owned(),
        read_only: ro,
    };
    assert_eq!(
        mounts(&f),
        [
            m("/r/code", "/home/work/user-job-dir/app", false),
            m("/r/run_train.sh", "/home/work/run_train.sh", true),
            m("/d", "/home/work/data_url", true),
            m("/t", "/home/work/train_url", false),
            m("/l", "/home/work/log_url", false),
            m("/h", "/in", true),
        ]
    );
}

#[test]
fn each_worker_gets_its_rank_its_peers_and_its_gpus() {
    assert_eq!(worker_count(None), 1);
    assert_eq!(worker_count(Some(0)), 1);
    assert_eq!(worker_count(Some(3)), 3);
    let base = container_environment(&params());
    let cohort = Cohort {
        workers: 2,
        base: &base,
        master_port: 5000,
        host_ports: &[6000, 6001],
        job_id: 7,
        version_id: 9,
        gpus: &[4, 5, 6, 7],
        in_image: false,
    };
    let plans = workers(&cohort);
    assert_eq!(plans.len(), 2);
    let env = &plans[1].env;
    let get = |k: &str| {
        env.iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(env[0], ("lr".to_owned(), "0.1".to_owned()));
    assert_eq!(get("PYTHONUNBUFFERED"), Some("1"));
    assert_eq!(get("RANK"), Some("1"));
    assert_eq!(get("WORLD_SIZE"), Some("2"));
    assert_eq!(get("MASTER_PORT"), Some("5000"));
    assert_eq!(get("BATCH_CUSTOM0_HOSTS"), Some("127.0.0.1:6000"));
    assert_eq!(get("BATCH_CUSTOM1_HOSTS"), Some("127.0.0.1:6001"));
    assert_eq!(get("TRAINYARD_VERSION_ID"), Some("9"));
    assert_eq!(get("CUDA_VISIBLE_DEVICES"), Some("6,7"));
    assert_eq!(plans[1].gpus, [6, 7]);
    // In a container the worker sees its GPUs numbered from 0.
    let in_image = workers(&Cohort {
        in_image: true,
        ..cohort.clone()
    });
    assert_eq!(in_image[1].env.last().unwrap().1, "0,1");
    // GPUs that do not split evenly: the rest stays unused; fewer than workers: none each.
    let three = workers(&Cohort {
        gpus: &[0, 1, 2],
        ..cohort.clone()
    });
    assert_eq!(
        (three[0].gpus.clone(), three[1].gpus.clone()),
        (vec![0], vec![1])
    );
    let one = workers(&Cohort {
        gpus: &[0],
        ..cohort
    });
    assert!(one.iter().all(|w| w.gpus.is_empty()));
    assert_eq!(one[0].env.last().unwrap().1, "");
}

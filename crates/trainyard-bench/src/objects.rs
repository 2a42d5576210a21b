//! Object storage: fetching a data folder into the cache and uploading an output folder with
//! trainyard's transfers (what each run's shim does), beside `aws s3 cp --recursive` of the
//! same bytes against the same S3 server (s3s-fs on loopback), in the same run.

use anyhow::{bail, Context, Result};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use trainyard_exec::objects::{ObjectDir, Objects, S3Config};

const KEY: &str = "bench";
const SECRET: &str = "bench-secret";

/// Kills the S3 server when the scenario ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Writes `files` files of `bytes / files` bytes each into `dir`.
fn write_files(dir: &Path, bytes: u64, files: usize) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let each = bytes / files as u64;
    // Not all one byte, so nothing on the way can shortcut it.
    let block: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    for i in 0..files {
        use std::io::Write;
        let mut f = std::fs::File::create(dir.join(format!("part-{i:03}.bin")))?;
        let mut left = each;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            f.write_all(&block[..n])?;
            left -= n as u64;
        }
    }
    Ok(())
}

/// Runs `aws s3 cp --recursive from to` against the server at `endpoint`; its wall time.
fn aws_cp(aws: &Path, endpoint: &str, from: &str, to: &str) -> Result<f64> {
    let t = Instant::now();
    let out = Command::new(aws)
        .args([
            "--endpoint-url",
            endpoint,
            "s3",
            "cp",
            "--recursive",
            "--only-show-errors",
            from,
            to,
        ])
        .env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .context("aws")?;
    if !out.status.success() {
        bail!(
            "aws s3 cp {from} {to}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(t.elapsed().as_secs_f64())
}

/// The scenario's report section.
pub async fn measure(
    s3s_fs: &Path,
    aws: Option<&Path>,
    work: &Path,
    bytes: u64,
    files: usize,
    reps: usize,
) -> Result<String> {
    let root = work.join("s3root");
    write_files(&root.join("bench/data"), bytes, files)?;
    let out = work.join("out");
    write_files(&out, bytes, files)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _server = Guard(
        Command::new(s3s_fs)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", KEY, "--secret-key", SECRET])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", s3s_fs.display()))?,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("s3s-fs did not listen");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let endpoint = format!("http://127.0.0.1:{port}");
    let objects = Objects::new(S3Config {
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        access_key: KEY.into(),
        secret_key: SECRET.into(),
        path_style: true,
        retry_seconds: 10,
    });
    let data = ObjectDir::new("bench", "data");
    let (mut fetch, mut upload, mut aws_fetch, mut aws_upload) = (vec![], vec![], vec![], vec![]);
    for rep in 0..reps {
        let cache = work.join(format!("cache-{rep}"));
        let t = Instant::now();
        let entry = objects.fetch_cached(&data, &cache, u64::MAX).await?;
        fetch.push(t.elapsed().as_secs_f64());
        drop(entry);
        std::fs::remove_dir_all(&cache)?;

        let to = ObjectDir::new("bench", &format!("up-{rep}"));
        let t = Instant::now();
        objects
            .upload(&out, &to, &[], &mut Default::default())
            .await?;
        upload.push(t.elapsed().as_secs_f64());
        std::fs::remove_dir_all(root.join(format!("bench/up-{rep}")))?;

        if let Some(aws) = aws {
            let local = work.join(format!("aws-{rep}"));
            let local_s = local.display().to_string();
            aws_fetch.push(aws_cp(aws, &endpoint, "s3://bench/data/", &local_s)?);
            std::fs::remove_dir_all(&local)?;
            let target = format!("s3://bench/awsup-{rep}/");
            aws_upload.push(aws_cp(aws, &endpoint, &out.display().to_string(), &target)?);
            std::fs::remove_dir_all(root.join(format!("bench/awsup-{rep}")))?;
        }
    }
    let mb = bytes as f64 / (1 << 20) as f64;
    let cell = |v: &[f64]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            let m = median(v.to_vec());
            format!("{m:.2} s ({:.0} MB/s)", mb / m)
        }
    };
    let ratio = |ours: &[f64], peer: &[f64]| {
        if peer.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.2}x", median(ours.to_vec()) / median(peer.to_vec()))
        }
    };
    Ok(format!(
        "## Object storage ({mb:.0} MiB in {files} files, s3s-fs on loopback)\n\n\
         trainyard: the transfers each run's shim makes (`data_url` fetched into the host's \
         cache, `train_url` uploaded, multipart above 8 MiB), timed in-process. Peer: `aws s3 \
         cp --recursive` (awscli from PyPI, its default 10 concurrent requests) of the same \
         folders against the same server. Median of {reps}; ratio = trainyard time / peer time \
         (lower is better).\n\n\
         | transfer | trainyard | aws s3 cp | ratio |\n|---|---|---|---|\n\
         | fetch `data_url` | {} | {} | {} |\n\
         | upload `train_url` | {} | {} | {} |\n",
        cell(&fetch),
        cell(&aws_fetch),
        ratio(&fetch, &aws_fetch),
        cell(&upload),
        cell(&aws_upload),
        ratio(&upload, &aws_upload),
    ))
}

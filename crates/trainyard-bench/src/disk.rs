//! What creating a file costs on the benchmark's disk at the start of a run, printed with the
//! results: every job creates about ten files and folders, and on ext4 without a journal
//! each new inode skips the inodes freed in the last minutes (the kernel's
//! `recently_deleted`), so one creation costs from tens of microseconds to about a
//! millisecond depending on what was deleted just before (another build's clean-up, the
//! previous benchmark run's folder). Runs are comparable only at similar values.

use std::path::Path;
use std::time::Instant;

/// Median microseconds to create one folder or file below `dir`, over `n` folders each
/// holding one file. They are left in place (deleted with the run's folder): deleting them
/// now would slow the run's own creations.
pub fn inode_cost_us(dir: &Path, n: usize) -> std::io::Result<f64> {
    let probe = dir.join("inode-probe");
    std::fs::create_dir_all(&probe)?;
    let mut each = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        let sub = probe.join(i.to_string());
        std::fs::create_dir(&sub)?;
        std::fs::File::create(sub.join("f"))?;
        each.push(t0.elapsed().as_secs_f64() * 1e6 / 2.0);
    }
    each.sort_by(f64::total_cmp);
    Ok(each.get(each.len() / 2).copied().unwrap_or(f64::NAN))
}

//! Lambda's CPU share as a cgroup v1 CFS quota, and the CPU time the group's tasks used.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::runtime_host::Function;

/// The memory that buys one full vCPU.
pub(crate) const FULL_CPU_MB: u64 = 1769;
pub(crate) const PERIOD_US: u64 = 100_000;

/// A `cpu` group with Lambda's quota for a memory size, and a `cpuacct` group beside it; both removed when dropped.
pub(crate) struct CpuGroup {
    cpu: PathBuf,
    cpuacct: PathBuf,
}

impl CpuGroup {
    pub(crate) fn quota_us(memory_mb: u64) -> u64 {
        (PERIOD_US * memory_mb + FULL_CPU_MB / 2) / FULL_CPU_MB
    }

    pub(crate) fn new(memory_mb: u64) -> Self {
        Self::create(PERIOD_US, Self::quota_us(memory_mb))
    }

    fn create(period_us: u64, quota_us: u64) -> Self {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "hello-lambda-otel-billed-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let fail = |what: &str, error: std::io::Error| -> ! {
            panic!(
                "{what}: {error}. The billed-time benchmark needs root and cgroup v1's cpu and cpuacct controllers \
                 mounted at /sys/fs/cgroup/cpu and /sys/fs/cgroup/cpuacct (as on this project's machines and CI); \
                 without them it cannot model Lambda's CPU share, and does not pretend to"
            )
        };
        let group = Self {
            cpu: Path::new("/sys/fs/cgroup/cpu").join(&name),
            cpuacct: Path::new("/sys/fs/cgroup/cpuacct").join(&name),
        };
        for dir in [&group.cpu, &group.cpuacct] {
            std::fs::create_dir(dir).unwrap_or_else(|error| fail(&format!("mkdir {}", dir.display()), error));
        }
        for (file, value) in [("cpu.cfs_period_us", period_us), ("cpu.cfs_quota_us", quota_us)] {
            let path = group.cpu.join(file);
            std::fs::write(&path, value.to_string())
                .unwrap_or_else(|error| fail(&format!("write {value} to {}", path.display()), error));
        }
        group
    }

    pub(crate) fn wrap(&self, function: Function) -> Function {
        function.in_cgroup(self.cpu.join("cgroup.procs")).in_cgroup(self.cpuacct.join("cgroup.procs"))
    }

    /// Checks that the controller does throttle: a busy loop of about 20 ms of CPU, in a group allowed 1 ms per
    /// 10 ms, must have waited out some periods. Otherwise every number here would be an unlimited machine's.
    pub(crate) fn check_throttling() {
        let group = Self::create(10_000, 1_000);
        let script = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done";
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("echo 0 > {} && {script}", group.cpu.join("cgroup.procs").display()))
            .status()
            .expect("run sh");
        assert!(status.success(), "sh could not join {}", group.cpu.display());
        assert!(
            group.throttled() > 0,
            "a busy loop in {} was never throttled: the CPU quota does not hold",
            group.cpu.display()
        );
    }

    /// CPU time of every task that was in the group.
    pub(crate) fn usage(&self) -> Duration {
        Duration::from_nanos(read_number(&self.cpuacct.join("cpuacct.usage"), ""))
    }

    /// Periods in which the quota ran out.
    pub(crate) fn throttled(&self) -> u64 {
        read_number(&self.cpu.join("cpu.stat"), "nr_throttled ")
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // A group can be removed once its last task has been reaped, which follows the kill by a moment.
        for dir in [&self.cpu, &self.cpuacct] {
            for _ in 0..100 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The number after `prefix` on a line of a kernel file.
fn read_number(path: &Path, prefix: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    text.lines()
        .find_map(|line| line.strip_prefix(prefix)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} number in {}: {text}", path.display()))
}

//! What the benchmarks' reports say about the machine and the tools they ran on.

use std::ffi::OsStr;
use std::process::Command;

/// `program args`'s standard output, trimmed; "unknown" if it cannot be run or says nothing.
pub(crate) fn command_output(program: impl AsRef<OsStr>, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The CPU's model name, from /proc/cpuinfo.
pub(crate) fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info.lines().find_map(|line| line.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim()));
    model.unwrap_or("unknown CPU").to_string()
}

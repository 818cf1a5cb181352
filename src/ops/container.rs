//! What the container lets this process use: the memory its cgroup allows
//! before the kernel kills it, so the usage on `/metrics` can be read (and
//! alerted on) as a share of what kills the replica.

use std::path::Path;

/// cgroup v2's limit, else v1's; `None` when there is none (`max`, v1's
/// "unlimited" of nearly 2^63, or no cgroup file at all).
pub fn memory_limit() -> Option<u64> {
    memory_limit_in(Path::new("/sys/fs/cgroup"))
}

fn memory_limit_in(root: &Path) -> Option<u64> {
    let read = |file: &str| std::fs::read_to_string(root.join(file)).ok();
    let limit = read("memory.max")
        .or_else(|| read("memory/memory.limit_in_bytes"))?
        .trim()
        .parse::<u64>()
        .ok()?;
    // v1 writes "no limit" as the largest page-aligned i64.
    (limit < 1 << 62).then_some(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v2_then_v1_and_treats_max_as_none() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(memory_limit_in(dir.path()), None);
        std::fs::create_dir(dir.path().join("memory")).expect("v1 dir");
        std::fs::write(
            dir.path().join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .expect("v1");
        assert_eq!(memory_limit_in(dir.path()), None);
        std::fs::write(
            dir.path().join("memory/memory.limit_in_bytes"),
            "536870912\n",
        )
        .expect("v1");
        assert_eq!(memory_limit_in(dir.path()), Some(536_870_912));
        std::fs::write(dir.path().join("memory.max"), "max\n").expect("v2");
        assert_eq!(memory_limit_in(dir.path()), None);
        std::fs::write(dir.path().join("memory.max"), "1610612736\n").expect("v2");
        assert_eq!(memory_limit_in(dir.path()), Some(1_610_612_736));
    }
}

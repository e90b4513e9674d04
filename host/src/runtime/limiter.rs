//! The resource limiter of one execution. wasmtime's `StoreLimits` caps each
//! linear memory on its own, but a component can hold several (any of its
//! core modules may define one), so on its own it would let an execution
//! hold its memory cap once per memory. This limiter also caps their sum:
//! the execution's budget holds for all of its memories together.

use wasmtime::{ResourceLimiter, StoreLimits};

pub struct ExecutionLimits {
    limits: StoreLimits,
    /// Bytes of linear memory the execution may still add, over all its memories.
    memory_left: usize,
    /// Bytes granted to the growth under way, given back if it fails.
    growing: usize,
    /// A growth was refused: the instance is at its cap, so it is not reused.
    refused: bool,
}

impl ExecutionLimits {
    /// `limits` for each memory and table, and `memory_bytes` for all the
    /// execution's memories together.
    pub fn new(limits: StoreLimits, memory_bytes: usize) -> Self {
        Self { limits, memory_left: memory_bytes, growing: 0, refused: false }
    }

    /// Whether a memory growth was ever refused.
    pub fn hit_memory_cap(&self) -> bool {
        self.refused
    }
}

impl ResourceLimiter for ExecutionLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current);
        let allowed = more <= self.memory_left && self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_left -= more;
            self.growing = more;
        }
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_left += std::mem::take(&mut self.growing);
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::{Engine, Instance, Module, Store, StoreLimitsBuilder};

    use super::*;

    const MIB: usize = 1 << 20;

    /// A core module that defines `count` memories of 100 MiB (1,600 pages)
    /// each, and nothing else: the wasm header, then a memory section.
    fn memories_of_100_mib(count: u8) -> Vec<u8> {
        let mut section = vec![count];
        for _ in 0..count {
            // Limits with a minimum only; 1,600 in LEB128.
            section.extend([0x00, 0xc0, 0x0c]);
        }
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend([0x05, section.len() as u8]);
        module.extend(section);
        module
    }

    /// Instantiates `module` in a store limited by `limiter`.
    fn instantiate(module: &[u8], limiter: impl ResourceLimiter + 'static) -> wasmtime::Result<()> {
        let engine = Engine::default();
        let module = Module::new(&engine, module)?;
        let mut store = Store::new(&engine, limiter);
        store.limiter(|limiter| limiter as &mut dyn ResourceLimiter);
        Instance::new(&mut store, &module, &[]).map(drop)
    }

    fn per_memory(bytes: usize) -> StoreLimits {
        StoreLimitsBuilder::new().memory_size(bytes).build()
    }

    #[test]
    fn the_memory_cap_holds_for_all_memories_together() {
        // The gap this type closes: two memories of 100 MiB each pass a
        // per-memory cap of 128 MiB.
        instantiate(&memories_of_100_mib(2), per_memory(128 * MIB)).unwrap();

        let capped = |bytes| ExecutionLimits::new(per_memory(bytes), bytes);
        instantiate(&memories_of_100_mib(1), capped(128 * MIB)).unwrap();
        let err = instantiate(&memories_of_100_mib(2), capped(128 * MIB)).unwrap_err();
        assert!(format!("{err:#}").contains("memory"), "{err:#}");
        instantiate(&memories_of_100_mib(2), capped(200 * MIB)).unwrap();
    }

    #[test]
    fn the_per_memory_cap_still_holds() {
        let limits = ExecutionLimits::new(per_memory(64 * MIB), 1024 * MIB);
        assert!(instantiate(&memories_of_100_mib(1), limits).is_err());
    }

    #[test]
    fn a_failed_growth_gives_its_bytes_back() {
        let mut limits = ExecutionLimits::new(per_memory(100 * MIB), 100 * MIB);
        assert!(limits.memory_growing(0, 60 * MIB, None).unwrap());
        limits.memory_grow_failed(wasmtime::Error::msg("the OS said no")).unwrap();
        assert!(limits.memory_growing(0, 100 * MIB, None).unwrap(), "the failed 60 MiB were given back");
        assert!(!limits.hit_memory_cap(), "a failure of the OS is no refusal");
        assert!(!limits.memory_growing(0, 64 * 1024, None).unwrap(), "the budget is spent");
        assert!(limits.hit_memory_cap());
    }
}

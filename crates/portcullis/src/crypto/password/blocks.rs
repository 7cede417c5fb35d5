//! argon2's working memory (19 MiB per hash by default) as a mapping of its own.
//!
//! The buffer never comes from the global allocator: on Linux it is an anonymous `mmap`, unmapped
//! when dropped, so freeing it always returns the memory to the OS, whatever allocator the
//! embedding program uses (glibc would keep a freed 19 MiB chunk in an arena once its dynamic
//! mmap threshold had risen; mimalloc or jemalloc keep freed segments for reuse). Elsewhere, or if
//! the mapping fails, it falls back to an ordinary `Vec`.

use argon2::Block;
use std::ops::{Deref, DerefMut};

/// `n` zeroed argon2 blocks.
pub(super) struct Blocks(Memory);

enum Memory {
    #[cfg(target_os = "linux")]
    Mapped {
        ptr: std::ptr::NonNull<Block>,
        len: usize,
    },
    Heap(Vec<Block>),
}

// SAFETY: `Mapped` owns its mapping exclusively (like a Vec owns its buffer); nothing else points
// into it, so moving it to another thread is sound.
unsafe impl Send for Blocks {}

impl Blocks {
    pub(super) fn new(n: usize) -> Self {
        #[cfg(target_os = "linux")]
        if let Some(mapped) = map(n) {
            return Blocks(mapped);
        }
        Blocks(Memory::Heap(vec![Block::new(); n]))
    }

    #[cfg(test)]
    pub(super) fn is_mapped(&self) -> bool {
        !matches!(self.0, Memory::Heap(_))
    }
}

/// An anonymous private mapping of `n` blocks, zero-filled by the kernel and touched by nobody
/// yet. It asks for transparent huge pages (where THP is enabled for `madvise`d memory, as on
/// Debian and Ubuntu): argon2 reads its blocks in a data-dependent order over the whole buffer, so
/// with 4 KiB pages nearly every block access misses the TLB; 2 MiB pages cut hash time by a few
/// per cent alone and more while other threads share the cores. Purely advisory.
#[cfg(target_os = "linux")]
fn map(n: usize) -> Option<Memory> {
    let bytes = n.checked_mul(std::mem::size_of::<Block>())?;
    if bytes == 0 {
        return None;
    }
    // SAFETY: a fresh anonymous mapping at an address the kernel picks; no existing memory is
    // affected. MADV_HUGEPAGE changes how the kernel backs the range, never its contents.
    let ptr = unsafe {
        let p = libc::mmap(std::ptr::null_mut(), bytes, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
        if p == libc::MAP_FAILED {
            return None;
        }
        libc::madvise(p, bytes, libc::MADV_HUGEPAGE);
        p
    };
    // Page-aligned (so 64-byte aligned, as Block needs) and zero-filled: all-zero bytes are a
    // valid Block (an array of u64).
    std::ptr::NonNull::new(ptr.cast::<Block>()).map(|ptr| Memory::Mapped { ptr, len: n })
}

impl Deref for Blocks {
    type Target = [Block];
    fn deref(&self) -> &[Block] {
        match &self.0 {
            // SAFETY: `ptr` points to `len` initialised (zero-filled) blocks this value owns.
            #[cfg(target_os = "linux")]
            Memory::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len) },
            Memory::Heap(v) => v,
        }
    }
}

impl DerefMut for Blocks {
    fn deref_mut(&mut self) -> &mut [Block] {
        match &mut self.0 {
            // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
            #[cfg(target_os = "linux")]
            Memory::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), *len) },
            Memory::Heap(v) => v,
        }
    }
}

impl Drop for Blocks {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Memory::Mapped { ptr, len } = self.0 {
            // SAFETY: unmaps exactly the mapping `map` created; no reference into it outlives self.
            unsafe { libc::munmap(ptr.as_ptr().cast(), len * std::mem::size_of::<Block>()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_zeroed_writable_and_own_their_mapping() {
        let mut b = Blocks::new(19 * 1024);
        assert_eq!(b.len(), 19 * 1024);
        assert!(b.iter().all(|blk| blk.as_ref().iter().all(|&w| w == 0)));
        b[19 * 1024 - 1] = Block::new();
        #[cfg(target_os = "linux")]
        assert!(b.is_mapped());
        assert_eq!(Blocks::new(0).len(), 0);
    }
}

//! SQLite's memory from the process's own allocator, without SQLite's memory statistics, and
//! how much of a statement's undo copies it keeps in memory.
//!
//! Left to itself SQLite calls the C library's `malloc`. The writer thread then gets a glibc
//! arena of its own, and every write frees the in-memory journal its statements
//! grew: glibc gives the top of that arena back to the kernel each time (`madvise`), and the
//! kernel interrupts the other core to flush its TLB. A third of the writer's time under an
//! update load went there, and the workers on the other core paid for the interrupts. The
//! process's allocator (mimalloc in the binary) keeps freed memory for reuse, as it does for
//! the rest of the server. The statistics, on by default, take a global mutex on every
//! allocation for a figure nothing here reads.

use std::alloc::{Layout, alloc, dealloc, realloc};
use std::ffi::{c_int, c_void};
use std::ptr::null_mut;

use rusqlite::ffi;

/// Each block starts with its whole size (SQLite asks for it, and `dealloc` needs it); 16 bytes
/// keep what follows aligned as `malloc`'s blocks are.
const HEADER: usize = 16;
const ALIGN: usize = 16;

/// Bytes of a statement's undo copies kept in memory before SQLite moves them to a temporary
/// file (its default: 64 KiB). A create changes ~15 pages: at the default most spilled, a file
/// write per page (a tenth of the writer's time, profiled). Kept under 512 KiB, with SQLite's
/// chunk header and ours: SQLite asks for it as one block at a statement's first change, and
/// mimalloc serves blocks up to 512 KiB from a free list but maps a page of its own for each
/// larger one (at 1 MiB, ~2,200 instructions per write, callgrind). A write of a hundred pages
/// stays in memory; deleting an account's thousands of todos still spills, so no write holds
/// more than this in memory. Only the pages written into it are ever touched.
const STATEMENT_JOURNAL_KEPT: c_int = 448 << 10;

/// Makes SQLite allocate through the global allocator and keep up to
/// [`STATEMENT_JOURNAL_KEPT`] of a statement's undo in memory. Call before any database is opened
/// (SQLite refuses after its first use, and then keeps its own); `false` when refused.
pub fn use_global_allocator() -> bool {
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(x_malloc),
        xFree: Some(x_free),
        xRealloc: Some(x_realloc),
        xSize: Some(x_size),
        xRoundup: Some(x_roundup),
        xInit: Some(x_init),
        xShutdown: Some(x_shutdown),
        pAppData: null_mut(),
    };
    // SAFETY: each option takes the arguments given; SQLite copies `methods` before returning.
    unsafe {
        ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) == ffi::SQLITE_OK
            && ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const methods) == ffi::SQLITE_OK
            && ffi::sqlite3_config(ffi::SQLITE_CONFIG_STMTJRNL_SPILL, STATEMENT_JOURNAL_KEPT)
                == ffi::SQLITE_OK
    }
}

/// The layout of a block handing out `n` bytes after its header; `None` for a negative or
/// impossible size.
fn block_layout(n: c_int) -> Option<Layout> {
    let size = usize::try_from(n).ok()?.checked_add(HEADER)?;
    Layout::from_size_align(size, ALIGN).ok()
}

/// The block holding `p`, and its whole size.
///
/// # Safety
/// `p` must come from `x_malloc` or `x_realloc` and not be freed.
unsafe fn block_of(p: *mut c_void) -> (*mut u8, usize) {
    // SAFETY: `p` is HEADER bytes into a block whose first word is its size.
    unsafe {
        let block = p.cast::<u8>().sub(HEADER);
        (block, block.cast::<usize>().read())
    }
}

/// Records the size at the start of `block` (null when allocation failed) and hands out the rest.
///
/// # Safety
/// `block`, if not null, must be a fresh block of `size` bytes, `size` > HEADER.
unsafe fn hand_out(block: *mut u8, size: usize) -> *mut c_void {
    if block.is_null() {
        return null_mut();
    }
    // SAFETY: the block is at least HEADER bytes and aligned for a usize.
    unsafe {
        block.cast::<usize>().write(size);
        block.add(HEADER).cast()
    }
}

unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    let Some(layout) = block_layout(n) else {
        return null_mut();
    };
    // SAFETY: the layout's size is at least HEADER, never zero.
    unsafe { hand_out(alloc(layout), layout.size()) }
}

unsafe extern "C" fn x_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what it was given, once; the layout is the one allocated.
    unsafe {
        let (block, size) = block_of(p);
        dealloc(block, Layout::from_size_align_unchecked(size, ALIGN));
    }
}

unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    if p.is_null() {
        // SAFETY: as for any allocation.
        return unsafe { x_malloc(n) };
    }
    let Some(layout) = block_layout(n) else {
        return null_mut();
    };
    // SAFETY: `p` is a live block of SQLite's; the new size is valid for ALIGN (a layout).
    // On failure the old block stays as it was, as C's realloc leaves it.
    unsafe {
        let (block, old) = block_of(p);
        let moved = realloc(
            block,
            Layout::from_size_align_unchecked(old, ALIGN),
            layout.size(),
        );
        hand_out(moved, layout.size())
    }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    if p.is_null() {
        return 0;
    }
    // SAFETY: a live block of SQLite's; its size came from a c_int plus HEADER.
    let (_, size) = unsafe { block_of(p) };
    c_int::try_from(size - HEADER).unwrap_or(c_int::MAX)
}

extern "C" fn x_roundup(n: c_int) -> c_int {
    n.checked_add(7).map_or(n, |n| n & !7)
}

extern "C" fn x_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

extern "C" fn x_shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_size_and_contents_when_grown_and_shrunk() {
        unsafe {
            let p = x_malloc(10);
            assert!(!p.is_null());
            assert_eq!(p as usize % 8, 0, "aligned");
            assert_eq!(x_size(p), 10);
            std::ptr::copy_nonoverlapping(b"0123456789".as_ptr(), p.cast(), 10);
            let grown = x_realloc(p, 100_000);
            assert_eq!(x_size(grown), 100_000);
            assert_eq!(
                std::slice::from_raw_parts(grown.cast::<u8>(), 10),
                b"0123456789"
            );
            let shrunk = x_realloc(grown, 4);
            assert_eq!(std::slice::from_raw_parts(shrunk.cast::<u8>(), 4), b"0123");
            x_free(shrunk);
            x_free(null_mut());
            assert!(x_malloc(-1).is_null());
            assert_eq!(x_size(null_mut()), 0);
        }
        assert_eq!(x_roundup(1), 8);
        assert_eq!(x_roundup(16), 16);
        assert!(x_roundup(c_int::MAX) >= c_int::MAX - 7);
    }
}

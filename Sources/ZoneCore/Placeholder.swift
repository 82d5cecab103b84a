import ZoneSupport
@c(zm_malloc) public func zm_malloc(_ n: Int) -> UnsafeMutableRawPointer? { __libc_malloc(n) }
@c(zm_free) public func zm_free(_ p: UnsafeMutableRawPointer?) { __libc_free(p) }
@c(zm_calloc) public func zm_calloc(_ a: Int, _ b: Int) -> UnsafeMutableRawPointer? { __libc_calloc(a, b) }
@c(zm_realloc) public func zm_realloc(_ p: UnsafeMutableRawPointer?, _ n: Int) -> UnsafeMutableRawPointer? { __libc_realloc(p, n) }

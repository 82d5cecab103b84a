// CMakePackage.swift: the CMake package `zm install` writes, so that a CMake project
// finds zonemalloc with `find_package(zonemalloc)` (CMAKE_PREFIX_PATH=DIR outside the
// system prefixes).
//
// Owns: the text of lib/cmake/zonemalloc/zonemallocConfig.cmake and
// zonemallocConfigVersion.cmake. The config file defines two imported targets, each with
// include/ as its include folder:
//   zonemalloc::zonemalloc         lib/libzonemalloc.so.0 (linked as -lzonemalloc is)
//   zonemalloc::zonemalloc-static  lib/libzonemalloc.a, with -Wl,--undefined=malloc so
//                                  that a program which never calls malloc itself still
//                                  links the archive's object (and so replaces malloc)
// The prefix is computed from the config file's own folder (three levels up), so the
// text holds no path and the prefix may be moved. The version file accepts a request for
// the same major version that is not newer (for 0.x: the same minor version too,
// when the request names one), and
// refuses a build for another pointer size, as CMake's SameMajorVersion files do.
// Touches: nothing (pure text).

enum CMakePackage {
  static let configPath = "lib/cmake/zonemalloc/zonemallocConfig.cmake"
  static let versionPath = "lib/cmake/zonemalloc/zonemallocConfigVersion.cmake"

  static func config() -> String {
    """
    # zonemallocConfig.cmake, written by `zm install`: the imported targets
    # zonemalloc::zonemalloc (the shared library) and zonemalloc::zonemalloc-static.
    get_filename_component(_zonemalloc_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
    if(NOT TARGET zonemalloc::zonemalloc)
      add_library(zonemalloc::zonemalloc SHARED IMPORTED)
      set_target_properties(zonemalloc::zonemalloc PROPERTIES
        IMPORTED_LOCATION "${_zonemalloc_prefix}/lib/libzonemalloc.so.0"
        IMPORTED_SONAME "libzonemalloc.so.0"
        INTERFACE_INCLUDE_DIRECTORIES "${_zonemalloc_prefix}/include")
    endif()
    if(NOT TARGET zonemalloc::zonemalloc-static)
      add_library(zonemalloc::zonemalloc-static STATIC IMPORTED)
      set_target_properties(zonemalloc::zonemalloc-static PROPERTIES
        IMPORTED_LOCATION "${_zonemalloc_prefix}/lib/libzonemalloc.a"
        IMPORTED_LINK_INTERFACE_LANGUAGES "C"
        INTERFACE_INCLUDE_DIRECTORIES "${_zonemalloc_prefix}/include"
        INTERFACE_LINK_OPTIONS "LINKER:--undefined=malloc"
        INTERFACE_LINK_LIBRARIES "pthread;dl")
    endif()
    set(zonemalloc_FOUND TRUE)
    unset(_zonemalloc_prefix)

    """
  }

  static func configVersion(_ version: String) -> String {
    let parts = version.split(separator: ".")
    let major = parts.first.map(String.init) ?? "0"
    let minor = parts.count > 1 ? String(parts[1]) : "0"
    return """
      # zonemallocConfigVersion.cmake, written by `zm install`.
      set(PACKAGE_VERSION "\(version)")
      if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
        set(PACKAGE_VERSION_COMPATIBLE FALSE)
      elseif(NOT PACKAGE_FIND_VERSION_MAJOR STREQUAL "\(major)")
        set(PACKAGE_VERSION_COMPATIBLE FALSE)
      elseif("\(major)" STREQUAL "0" AND PACKAGE_FIND_VERSION_COUNT GREATER 1
          AND NOT PACKAGE_FIND_VERSION_MINOR STREQUAL "\(minor)")
        set(PACKAGE_VERSION_COMPATIBLE FALSE)
      else()
        set(PACKAGE_VERSION_COMPATIBLE TRUE)
        if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
          set(PACKAGE_VERSION_EXACT TRUE)
        endif()
      endif()
      if(CMAKE_SIZEOF_VOID_P AND NOT CMAKE_SIZEOF_VOID_P STREQUAL "8")
        set(PACKAGE_VERSION "${PACKAGE_VERSION} (64-bit)")
        set(PACKAGE_VERSION_UNSUITABLE TRUE)
      endif()

      """
  }
}

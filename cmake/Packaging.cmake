# INSTALL-3: `cpack -G DEB` in a build folder makes three Debian packages
# from the install components: libconcalloc0 (runtime), libconcalloc-malloc0
# (the malloc replacement) and libconcalloc-dev (headers, static library,
# CMake package and pkg-config file; it needs the other two, since the CMake
# package names all three libraries). Installed under /usr.
set(CPACK_PACKAGE_NAME concalloc)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "concalloc developers <concalloc@example.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL runtime dev)
if(TARGET concalloc_malloc)
  list(APPEND CPACK_COMPONENTS_ALL malloc)
endif()
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libconcalloc0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "libc6 (>= 2.34), libstdc++6 (>= 12), libgcc-s1")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "${PROJECT_DESCRIPTION} (shared library)")
set(CPACK_DEBIAN_MALLOC_PACKAGE_NAME libconcalloc-malloc0)
set(CPACK_DEBIAN_MALLOC_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_MALLOC_PACKAGE_DEPENDS "libc6 (>= 2.34), libstdc++6 (>= 12), libgcc-s1")
set(CPACK_COMPONENT_MALLOC_DESCRIPTION
  "concalloc's per-thread caches in front of glibc's malloc, for LD_PRELOAD")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libconcalloc-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DESCRIPTION
  "${PROJECT_DESCRIPTION} (headers, static library, CMake and pkg-config files)")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libconcalloc0 (= ${PROJECT_VERSION})")
if(TARGET concalloc_malloc)
  string(APPEND CPACK_DEBIAN_DEV_PACKAGE_DEPENDS ", libconcalloc-malloc0 (= ${PROJECT_VERSION})")
endif()
include(CPack)

# The Debian package: `cpack` (or `cmake --build build --target package`) in
# the build directory writes vmreclaim_<version>_<arch>.deb.
#
# One package holds everything `cmake --install` installs, whatever component
# an install rule names (CPACK_DEB_COMPONENT_INSTALL off, CPACK_COMPONENTS_ALL
# unset): the shared and static library, the headers, the pkg-config and
# CMake package files, the large-allocation layer, the `vmreclaim` command,
# the daemon vmreclaimd (sbin/) and its systemd unit, and whatever else
# gains an install rule later, without a change here. Included last from the top CMakeLists.txt, after
# every install rule. An install rule should name a relative destination
# (a systemd unit: lib/systemd/system, which becomes /usr/lib/systemd/system
# in the package, where systemd on Debian 12 reads units).
#
# Paths: installed under /usr (CPACK_PACKAGING_INSTALL_PREFIX) with the
# build's relative CMAKE_INSTALL_LIBDIR — lib/ for the default prefix,
# lib/<multiarch>/ when configured with -DCMAKE_INSTALL_PREFIX=/usr; both
# are on the loader's path, and the .pc and CMake files find their prefix
# from where they lie.
#
# Dependencies: computed by dpkg-shlibdeps from what the binaries link
# (libc6, libstdc++6, libgcc-s1; libsystemd0 and libcivetweb1 for the
# daemon, checked by .ci/run's package stage); the package's own libvmreclaim.so.0, which
# the layer links, is found in the build directory. A shlibs file and the
# ldconfig trigger come with it, so other packages can depend on the library.

set(VMRECLAIM_PACKAGE_MAINTAINER "vmreclaim maintainers <maintainers@users.noreply.r-seed-b4650d2d.example>"
    CACHE STRING "The Debian package's Maintainer field")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vmreclaim)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
    "A deferred memory reclamation ring per process: freed memory stays mapped and is given back by an engine \
thread when the process goes idle or memory runs short. Holds the library (C11 and C++20 headers, pkg-config \
and CMake files), libvmreclaim-malloc.so and libvmreclaim-malloc-generic.so (a preloadable large-allocation \
layer on the ring, in two builds of its small path) and the vmreclaim \
command (list, show, trim, drain, run, demo).")
set(CPACK_PACKAGE_CONTACT "${VMRECLAIM_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEB_COMPONENT_INSTALL OFF)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_NAME vmreclaim)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${VMRECLAIM_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Where the build put libvmreclaim.so.0 (one directory: a list is passed
# wrongly by CMake 3.25).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR})
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# The headers and the CMake and pkg-config files ask for nothing beyond the C
# and C++ runtimes; a compiler is the user's choice.
# The preloadable layer forwards small requests to mimalloc by default,
# compiled into it (third_party/mimalloc); the other backends are loaded
# only when asked for by name (docs/allocator.md).
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libjemalloc2, libtcmalloc-minimal4")

include(CPack)

# BUILD-4, BUILD-5, INSTALL-2, INSTALL-3: concalloc built the ways its
# consumers build it, each in a scratch folder.
#   cmake -DMODE=<mode> -DSOURCE_DIR=... -DWORK_DIR=... -DCXX=... [-DBUILD_DIR=...]
#         [-DSANITIZE=address|thread] -P ConsumerBuildTest.cmake
# MODE:
#   no_testing    configured with -DBUILD_TESTING=OFF: no test is built or
#                 registered (BUILD-4)
#   fetchcontent  examples/fetchcontent: only libconcalloc.so and the
#                 application are built, and the application runs (INSTALL-2)
#   sanitize      configured with -DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE}
#                 and default options: it configures and builds (BUILD-5)
#   deb           cpack -G DEB on BUILD_DIR; the packages, unpacked with
#                 dpkg -x into a scratch root, serve a consumer through
#                 find_package and pkg-config (INSTALL-3)
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${MODE}: failed (${rc}): ${ARGN}\n${out}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(generator -G Ninja -DCMAKE_CXX_COMPILER=${CXX})

if(MODE STREQUAL "no_testing")
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build ${generator} -DBUILD_TESTING=OFF)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  if(out MATCHES "unit_tests|checked_tests|malloc_tests|sanitizers/bugs|gtest|rapidcheck")
    message(FATAL_ERROR "BUILD-4: BUILD_TESTING=OFF still built tests:\n${out}")
  endif()
  run(${CMAKE_CTEST_COMMAND} --test-dir ${WORK_DIR}/build -N)
  if(NOT out MATCHES "Total Tests: 0")
    message(FATAL_ERROR "BUILD-4: BUILD_TESTING=OFF still registered tests:\n${out}")
  endif()
  # CHECK-*: concalloc-check is built and installed all the same.
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/build --prefix ${WORK_DIR}/root)
  run(${WORK_DIR}/root/bin/concalloc-check --help)
  if(NOT out MATCHES "concalloc-check")
    message(FATAL_ERROR "CHECK: the installed concalloc-check does not run:\n${out}")
  endif()
  message(STATUS "BUILD-4: BUILD_TESTING=OFF: no test built, none registered; "
    "concalloc-check built and installed")

elseif(MODE STREQUAL "fetchcontent")
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/fetchcontent -B ${WORK_DIR}/build ${generator}
      -DCONCALLOC_SOURCE_DIR=${SOURCE_DIR})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  string(REGEX MATCHALL "Linking CXX [a-z ]+ [^\n]+" linked "${out}")
  set(names "")
  foreach(line IN LISTS linked)
    string(REGEX REPLACE ".* " "" file "${line}")
    get_filename_component(name ${file} NAME)
    list(APPEND names ${name})
  endforeach()
  list(SORT names)
  if(NOT names MATCHES "^app;libconcalloc\\.so[.0-9]*$")
    message(FATAL_ERROR "INSTALL-2: a FetchContent consumer built more than the library and "
      "its application: ${names}\n${out}")
  endif()
  run(${WORK_DIR}/build/app)
  message(STATUS "INSTALL-2: FetchContent built only ${names}; the application runs")

elseif(MODE STREQUAL "sanitize")
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build ${generator}
      -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE}")
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  message(STATUS "BUILD-5: -DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE} with default options builds")

elseif(MODE STREQUAL "deb")
  run(cpack -G DEB --config ${BUILD_DIR}/CPackConfig.cmake -B ${WORK_DIR}/packages)
  file(GLOB debs ${WORK_DIR}/packages/*.deb)
  set(root ${WORK_DIR}/root)
  set(found "")
  foreach(deb IN LISTS debs)
    run(dpkg-deb -f ${deb} Package)
    string(STRIP "${out}" package)
    list(APPEND found ${package})
    run(dpkg -x ${deb} ${root})
  endforeach()
  list(SORT found)
  if(NOT found STREQUAL "libconcalloc-dev;libconcalloc-malloc0;libconcalloc0")
    message(FATAL_ERROR "INSTALL-3: the packages are ${found}")
  endif()
  file(GLOB dev_deb ${WORK_DIR}/packages/libconcalloc-dev_*.deb)
  run(dpkg-deb -f ${dev_deb} Depends)
  if(NOT out MATCHES "libconcalloc0")
    message(FATAL_ERROR "INSTALL-3: libconcalloc-dev does not depend on libconcalloc0: ${out}")
  endif()
  file(GLOB_RECURSE so ${root}/usr/*/libconcalloc.so.0)
  file(GLOB_RECURSE malloc_so ${root}/usr/*/libconcalloc-malloc.so.0)
  if(NOT so OR NOT malloc_so)
    message(FATAL_ERROR "INSTALL-3: the libraries are not in the packages")
  endif()
  get_filename_component(libdir ${so} DIRECTORY)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/consumer -B ${WORK_DIR}/consumer ${generator}
      -DCMAKE_PREFIX_PATH=${root}/usr)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
  run(${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${libdir} ${WORK_DIR}/consumer/consumer)
  run(${WORK_DIR}/consumer/consumer_static)
  run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${libdir}/pkgconfig
      pkg-config --cflags --libs concalloc)
  string(STRIP "${out}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${CXX} -std=c++17 ${SOURCE_DIR}/examples/consumer/consumer.cpp ${flags}
      -o ${WORK_DIR}/consumer_pkgconfig)
  run(${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${libdir} ${WORK_DIR}/consumer_pkgconfig)
  run(${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${libdir} LD_PRELOAD=${malloc_so}
      CONCALLOC_SHOW_STATS=1 ${WORK_DIR}/consumer_pkgconfig)
  if(NOT out MATCHES "concalloc: main thread")
    message(FATAL_ERROR "INSTALL-3: libconcalloc-malloc0's library did not load:\n${out}")
  endif()
  # CHECK-INSTALL: libconcalloc-dev serves concalloc-check, which checks
  # the packaged library through its table and the packaged malloc library.
  if(NOT EXISTS ${root}/usr/bin/concalloc-check)
    message(FATAL_ERROR "INSTALL-3: libconcalloc-dev has no usr/bin/concalloc-check")
  endif()
  run(${root}/usr/bin/concalloc-check concrt ${so} --cases 20)
  run(${CMAKE_COMMAND} -E env LD_PRELOAD=${malloc_so} ${root}/usr/bin/concalloc-check malloc
      --cases 20 --only sequences,limits)
  message(STATUS "INSTALL-3: ${found} unpack into a root that serves find_package, "
    "pkg-config and LD_PRELOAD")
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()

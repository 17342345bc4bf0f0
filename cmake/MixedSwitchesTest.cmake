# BUILD-3 seen failing: a library whose objects were not all compiled with
# the same switches must not link. Compiles src/api/malloc_override.cpp with no
# switch at all (the mistake of issue #11: an object added to a target
# outside concalloc_objects) and links it with the objects of a checked
# build; the link must fail on the switch symbol of the odd object.
#   cmake -DCXX=... -DSOURCE_DIR=... -DOBJECTS=a.o|b.o -DWORK_DIR=... -P MixedSwitchesTest.cmake
string(REPLACE "|" ";" OBJECTS "${OBJECTS}")
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${CXX} -std=c++17 -fPIC -fvisibility=hidden -I${SOURCE_DIR}/include
    -I${SOURCE_DIR}/src -c ${SOURCE_DIR}/src/api/malloc_override.cpp -o ${WORK_DIR}/odd.o
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "BUILD-3: the odd object does not even compile:\n${out}${err}")
endif()
execute_process(COMMAND ${CXX} -shared -Wl,--no-undefined -o ${WORK_DIR}/mixed.so
    ${WORK_DIR}/odd.o ${OBJECTS} -lpthread
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "BUILD-3: a library with an object built without the switches linked")
endif()
if(NOT "${out}${err}" MATCHES "undefined reference to .concalloc_build_config_checked0_")
  message(FATAL_ERROR "BUILD-3: the link failed for another reason:\n${out}${err}")
endif()
message(STATUS "BUILD-3: the mixed library does not link (the odd object's switch symbol is undefined)")

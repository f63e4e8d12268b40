# Installs the built library into a scratch prefix, then configures, builds and runs an outside
# project that finds it with find_package(domainsearch). Run by ctest (see tests/CMakeLists.txt).
file(REMOVE_RECURSE ${WORK_DIR})
set(PREFIX ${WORK_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX})
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)

# The C++ and C examples, built against the installed tree and run on a catalogue made by the
# installed domainsearch command (tiny models and images from the unit tests' fixture).
if(DEFINED EXAMPLES_DIR AND DEFINED MODEL_DIR)
  run(${CMAKE_COMMAND} -S ${EXAMPLES_DIR}/cpp -B ${WORK_DIR}/examples -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_BUILD_TYPE=Release)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/examples)
  run(${PREFIX}/bin/domainsearch index --config ${MODEL_DIR}/config.json --catalogue ${WORK_DIR}/cat.dscat --folder ${MODEL_DIR}/tree)
  foreach(program query_cpp query_c)
    execute_process(COMMAND ${WORK_DIR}/examples/${program} ${MODEL_DIR}/config.json ${WORK_DIR}/cat.dscat ${MODEL_DIR}/tree/square/square2.png
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out)
    if(NOT rc EQUAL 0 OR NOT out MATCHES "^square2 ")
      message(FATAL_ERROR "${program} failed (${rc}) or did not rank the photo itself first:\n${out}")
    endif()
    message(STATUS "${program}:\n${out}")
  endforeach()
endif()

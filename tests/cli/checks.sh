# Shared by the fast command-line test scripts (sourced, not run): TAP-like checks and the tiny models.
#   ok NAME | not_ok NAME [FILE...] | expect NAME CONDITION_COMMAND... [-- FILE...]
#   tiny_models BUILD_DIR WORK_DIR   sets MODELS to a folder holding the tiny test models
passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {  # not_ok NAME [FILE...]: the last lines of each file (the command's output) are shown
  local name=$1; shift
  failed=$((failed + 1)); echo "not ok - $name"
  for f in "$@"; do [ -f "$f" ] && tr '\r' '\n' < "$f" | tail -n 8 | sed 's/^/#   /'; done
  return 0
}
expect() {  # expect NAME CONDITION_COMMAND... [-- FILE...]
  local name=$1; shift
  local cond=() files=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cond+=("$1"); shift; done
  [ $# -gt 0 ] && shift && files=("$@")
  if "${cond[@]}"; then ok "$name"; else not_ok "$name" "${files[@]}"; fi
}
# The ctest fixture writes the tiny models into BUILD/tests/test_models; run by hand, they are written
# into WORK/models.
tiny_models() {
  MODELS=$1/tests/test_models
  if [ ! -f "$MODELS/backbone.json" ]; then
    MODELS=$2/models
    DS_TEST_MODEL_DIR=$MODELS "$1/tests/unit_tests" "[.write-test-models]" > /dev/null
  fi
}

#!/usr/bin/env bash
# `domainsearch completion bash`: the script parses, registers itself, and completes commands, options,
# choices, files (spaces kept) and folders as a user's Tab would (COMP_WORDS/COMP_CWORD set as bash sets
# them, '=' split off); every option it offers is one the parser accepts. And the parser's edges: an empty
# --name=, --help with anything else, --name=value checked. No models needed. Usage: test_cli_completion.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
CLI=$1/bin/domainsearch
source "$2/tests/cli/checks.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/photos" && touch "$WORK/config.json" "$WORK/shelf.jpg" "$WORK/my photo.jpg"

"$CLI" completion bash > "$WORK/completion.bash" 2> "$WORK/err"
expect "completion bash: exit 0" [ $? -eq 0 ] -- "$WORK/err"
expect "the script is valid bash" bash -n "$WORK/completion.bash" -- "$WORK/completion.bash"
source "$WORK/completion.bash"
expect "it registers a completion for domainsearch" eval 'complete -p domainsearch | grep -q _domainsearch'

# completes WORD...: the words of the command line, the last one being completed; prints COMPREPLY sorted.
completes() {
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
  _domainsearch 2>/dev/null
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
same() {  # same NAME GOT WANT
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "#   got  \"$2\""; echo "#   want \"$3\""; fi
}
same "a command" "$(completes domainsearch qu)" "query"
same "every command and the global flags" "$(completes domainsearch '')" "--help --version add completion eval index inspect query remove train"
same "an option of query" "$(completes domainsearch query --cr)" "--crop"
same "the choices of --crop" "$(completes domainsearch query --crop '')" "box cutout"
same "a file for --config" "$(completes domainsearch index --config "$WORK/con")" "$WORK/config.json"
same "folders only for --folder" "$(completes domainsearch index --folder "$WORK/")" "$WORK/photos"
same "nothing for a number (--k)" "$(completes domainsearch query --k '')" ""
same "files for IMAGE" "$(completes domainsearch query --config c.json "$WORK/sh")" "$WORK/shelf.jpg"
COMP_WORDS=(domainsearch query "$WORK/my"); COMP_CWORD=2; COMPREPLY=(); _domainsearch 2>/dev/null
same "a file name with a space is one completion" "${#COMPREPLY[@]}:${COMPREPLY[0]:-}" "1:$WORK/my photo.jpg"
same "--crop=<Tab> (bash splits the word at '=')" "$(completes domainsearch query --crop =)" "box cutout"
same "--crop=c<Tab>" "$(completes domainsearch query --crop = c)" "cutout"
same "options where a command takes no positional argument" "$(completes domainsearch inspect '')" "--catalogue --help --json"
same "the shell of completion" "$(completes domainsearch completion '')" "bash"
same "nothing for an unknown command" "$(completes domainsearch frobnicate '')" ""

# Every option the script offers for a command is one its parser knows (never "unknown option").
for command in add completion eval index inspect query remove train; do
  for option in $(completes domainsearch "$command" --); do
    [ "$option" = --help ] && continue
    "$CLI" "$command" "$option" > /dev/null 2> "$WORK/err"
    if grep -q "unknown option" "$WORK/err"; then not_ok "$command $option is known to the parser" "$WORK/err"; else ok "$command $option is known to the parser"; fi
  done
done
# The parser (no models needed: these are refused or answered before any work).
"$CLI" add --config c.json --catalogue x.dscat --image a.jpg --category C --label= --upsert > /dev/null 2> "$WORK/err"
expect "--label= (no value) is refused, not given the next argument: exit 2" [ $? -eq 2 ] -- "$WORK/err"
expect "--label= is named" grep -qe "--label= has no value" "$WORK/err" -- "$WORK/err"
"$CLI" query --k 0 --help > "$WORK/out" 2> "$WORK/err"
expect "COMMAND --help answers with the help whatever else is given" [ $? -eq 0 ] -- "$WORK/err"
expect "... the command's help" grep -q "domainsearch query --config" "$WORK/out" -- "$WORK/out"
"$CLI" query --config c.json --catalogue x.dscat --k=0 a.jpg > /dev/null 2> "$WORK/err"
expect "--k=0 is checked like --k 0" grep -qe '--k: must be an integer in 1..100000, got "0"' "$WORK/err" -- "$WORK/err"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

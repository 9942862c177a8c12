#!/usr/bin/env bats
# The documentation keeps up with the programs: every option of every program
# in bin/ is in its man page and in both completions, every setting is in
# sio.conf(5) and in etc/sio.conf with its default, the man pages lint clean.
# Programs are found by globbing bin/sio-*, so a new program is checked the
# day it is built.

bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BIN=${SIO_BIN:-$ROOT/bin}

# The options every program has besides its settings.
COMMON='--config --check-config --help --version'

programs() {
	local p
	for p in "$BIN"/sio-*; do
		[ -f "$p" ] && [ -x "$p" ] && echo "${p##*/}"
	done
}

# The long options a program's --help lists, one a line: the first long
# option of each line that starts with an option.
long_options() {
	"$BIN/$1" --help | sed -nE 's/^ +(-[[:alnum:]], )?(--[[:alnum:]][[:alnum:]-]*).*/\2/p'
}

# The default --help shows for an option ("" when it shows none). A help
# line too long for its column continues on the next line.
help_default() {
	"$BIN/$1" --help | awk -v opt="$2" '
		found { line = line " " $0; exit }
		$0 ~ "^ +(-[[:alnum:]], )?" opt "( |$)" {
			line = $0; found = 1
			if ($0 !~ "^ +(-[[:alnum:]], )?" opt "$" &&
			    $0 !~ "^ +(-[[:alnum:]], )?" opt " [A-Z]+$") exit
		}
		END { if (match(line, /\[[^]]*\]$/)) print substr(line, RSTART + 1, RLENGTH - 2) }'
}

# Whether file holds opt as a whole word: --max-length is not in
# --hard-max-length.
has_option() {
	grep -qE -- "(^|[^[:alnum:]-])$2([^[:alnum:]-]|\$)" "$1"
}

# The configuration key an option's entry in man/PROGRAM.1.scd names at its
# end, as "group.key" ("" when it names none): the entry is the option's line
# in the OPTIONS section and the indented lines below it.
man_key() {
	awk -v opt="*$2*" '
		/^# / { in_options = $0 == "# OPTIONS"; if (found) exit; next }
		!in_options { next }
		found && /^\t/ { entry = entry " " $0; next }
		found { exit }
		/^\*/ && index($0, opt) { found = 1; entry = $0 }
		END {
			sub(/[ \t]+$/, "", entry)
			if (match(entry, /\([a-z_]+\.[a-z_]+\)$/))
				print substr(entry, RSTART + 1, RLENGTH - 2)
		}' "$ROOT/man/$1.1.scd"
}

# etc/sio.conf as "group key option value" lines; the option is the first long
# option on the comment line right above the key.
conf_keys() {
	awk '
		/^[a-z_]+[ \t]*:[ \t]*\{/ { group = $1; sub(/[ \t]*:.*/, "", group); next }
		/^[ \t]*#/ { comment = $0; next }
		/^[ \t]*[a-z_]+[ \t]*=/ {
			key = $0; sub(/^[ \t]*/, "", key); sub(/[ \t]*=.*/, "", key)
			value = $0; sub(/^[^=]*=[ \t]*/, "", value); sub(/;[ \t]*(#.*)?$/, "", value)
			opt = "-"
			if (match(comment, /--[a-z][a-z0-9-]*/)) opt = substr(comment, RSTART, RLENGTH)
			print group, key, opt, value
			comment = ""
			next
		}
		{ comment = "" }' "$ROOT/etc/sio.conf"
}

setup_file() {
	local n
	n=$(programs | wc -l)
	[ "$n" -gt 0 ] || {
		echo "no program in $BIN: run make first" >&2
		return 1
	}
}

@test "every program answers --help with its usage on stdout, and --version" {
	local p
	for p in $(programs); do
		run --separate-stderr "$BIN/$p" --help
		assert_success
		assert_line --index 0 --regexp "^Usage: $p "
		[ -z "$stderr" ] || fail "$p --help wrote to stderr: $stderr"
		run "$BIN/$p" --version
		assert_success
		assert_output --regexp "^$p [0-9]"
	done
}

@test "every option of --help is in the program's man page" {
	local p o page
	for p in $(programs); do
		page=$ROOT/man/$p.1.scd
		[ -f "$page" ] || fail "$p has no man page man/$p.1.scd"
		for o in $(long_options "$p"); do
			has_option "$page" "$o" || fail "$p: $o is not in man/$p.1.scd"
		done
	done
}

# "PROGRAM -X --long" for each short option PROGRAM's --help lists.
short_options() {
	"$BIN/$1" --help | sed -nE "s/^ +(-[[:alnum:]]), (--[[:alnum:]][[:alnum:]-]*).*/$1 \1 \2/p"
}

@test "a short option means one thing in every program (-w is --workers)" {
	local p
	for p in $(programs); do short_options "$p"; done >"$BATS_TEST_TMPDIR/shorts"
	# -n is a count in each program that has it (picks, connections).
	run awk '$2 != "-n" { if (($2 in long) && long[$2] != $3)
			print $2 " is " long[$2] " in " prog[$2] " but " $3 " in " $1
		long[$2] = $3; prog[$2] = $1 }' "$BATS_TEST_TMPDIR/shorts"
	assert_output ''
	run grep -- ' -w ' "$BATS_TEST_TMPDIR/shorts"
	assert_line 'sio-serve -w --workers'
	assert_line 'sio-bench -w --workers'
}

@test "the man pages and completions give the short options --help gives" {
	local p s l
	for p in $(programs); do
		while read -r _ s l; do
			grep -qF -- "*$s*, *$l*" "$ROOT/man/$p.1.scd" ||
				fail "man/$p.1.scd: no '*$s*, *$l*'"
		done < <(short_options "$p")
		# No short option in the man page or the bash completion that --help lacks.
		for s in $(grep -oE '^\*-[[:alnum:]]\*' "$ROOT/man/$p.1.scd" | tr -d '*'); do
			short_options "$p" | grep -q -- " $s " || fail "man/$p.1.scd: $s is not in --help"
		done
		for s in $(sed -n "/opts='/,/'/p" "$ROOT/completions/bash/$p" |
			   grep -oE -- "(^|[ '])-[[:alnum:]]( |\$|')" | tr -d " '"); do
			short_options "$p" | grep -q -- " $s " ||
				fail "completions/bash/$p: $s is not in --help"
		done
	done
}

@test "every program's man page has the usual sections" {
	local p s
	for p in $(programs); do
		for s in NAME SYNOPSIS DESCRIPTION OPTIONS FILES 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
			grep -qx "# $s" "$ROOT/man/$p.1.scd" || fail "man/$p.1.scd has no $s section"
		done
	done
}

@test "every option of --help is in the bash completion" {
	local p o file
	for p in $(programs); do
		file=$ROOT/completions/bash/$p
		[ -f "$file" ] || fail "$p has no completions/bash/$p"
		for o in $(long_options "$p"); do
			has_option "$file" "$o" || fail "$p: $o is not in completions/bash/$p"
		done
	done
}

@test "the bash completions parse and offer every option" {
	local p o
	for p in $(programs); do
		bash -n "$ROOT/completions/bash/$p" || fail "completions/bash/$p: syntax error"
		run bash --norc --noprofile -c '
			source "$1"
			fn=$(complete -p "$2" | sed -nE "s/.*-F ([^ ]+) .*/\1/p")
			[ -n "$fn" ] || { echo "no completion function for $2"; exit 1; }
			COMP_WORDS=("$2" --) COMP_CWORD=1 COMP_LINE="$2 --" COMP_POINT=${#COMP_LINE}
			"$fn" "$2" -- "$2"
			printf "%s\n" "${COMPREPLY[@]}"' _ "$ROOT/completions/bash/$p" "$p"
		assert_success
		for o in $(long_options "$p"); do
			assert_line "$o"
		done
	done
}

@test "the bash completions offer the log levels and formats" {
	local p
	for p in $(programs); do
		long_options "$p" | grep -qx -- --log-level || continue
		run bash --norc --noprofile -c '
			source "$1"
			fn=$(complete -p "$2" | sed -nE "s/.*-F ([^ ]+) .*/\1/p")
			COMP_WORDS=("$2" "$3" "") COMP_CWORD=2 COMP_LINE="$2 $3 " COMP_POINT=${#COMP_LINE}
			"$fn" "$2" "" "$3"
			echo "${COMPREPLY[*]}"' _ "$ROOT/completions/bash/$p" "$p" --log-level
		assert_success
		assert_output 'error warning info debug'
		run bash --norc --noprofile -c '
			source "$1"
			fn=$(complete -p "$2" | sed -nE "s/.*-F ([^ ]+) .*/\1/p")
			COMP_WORDS=("$2" "$3" "") COMP_CWORD=2 COMP_LINE="$2 $3 " COMP_POINT=${#COMP_LINE}
			"$fn" "$2" "" "$3"
			echo "${COMPREPLY[*]}"' _ "$ROOT/completions/bash/$p" "$p" --log-format
		assert_success
		assert_output 'text json'
	done
}

@test "every program and every option of --help is in the zsh completion" {
	local p o file=$ROOT/completions/zsh/_sio
	for p in $(programs); do
		head -n 1 "$file" | grep -qE "^#compdef( .*)? $p( |\$)" ||
			fail "$p is not on the #compdef line of completions/zsh/_sio"
		for o in $(long_options "$p"); do
			has_option "$file" "$o" || fail "$p: $o is not in completions/zsh/_sio"
		done
	done
}

@test "the zsh completion parses" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	run zsh -n "$ROOT/completions/zsh/_sio"
	assert_success
}

@test "every key of etc/sio.conf is in sio.conf(5)" {
	local group key opt value n=0
	while read -r group key opt value; do
		grep -qF -- "*$key*" "$ROOT/man/sio.conf.5.scd" ||
			fail "$group.$key is not in man/sio.conf.5.scd"
		grep -qx "# ${group^^}" "$ROOT/man/sio.conf.5.scd" ||
			fail "group $group has no section in man/sio.conf.5.scd"
		n=$((n + 1))
	done < <(conf_keys)
	[ "$n" -gt 0 ] || fail "no key found in etc/sio.conf"
}

@test "every setting of every program's --help is in sio.conf(5) and etc/sio.conf" {
	# A setting is an option that a key's comment in etc/sio.conf names, or
	# the --no-X of such a --X (a boolean). The other options are the
	# program's own, such as sio-serve --gen-keys, an action no file can set.
	# A man page that names a key at the end of an option's entry says the
	# option is a setting: then etc/sio.conf must name it for that very key,
	# so that a setting left out of etc/sio.conf is caught all the same.
	local p o key conf opts setting
	conf=$(conf_keys)
	opts=$(awk '{ print $3 }' <<<"$conf")
	for p in $(programs); do
		for o in $(long_options "$p"); do
			case " $COMMON " in *" $o "*) continue ;; esac
			setting=no
			if grep -qx -- "$o" <<<"$opts"; then
				setting=yes
			elif [[ $o == --no-* ]] && grep -qx -- "--${o#--no-}" <<<"$opts"; then
				setting=yes
			fi
			key=$(man_key "$p" "$o")
			if [ "$setting" = no ]; then
				[ -z "$key" ] ||
					fail "$p: man/$p.1.scd says $o sets $key, but no key of etc/sio.conf names $o (its comment must name the option)"
				continue
			fi
			has_option "$ROOT/man/sio.conf.5.scd" "$o" ||
				fail "$p: $o is not in man/sio.conf.5.scd"
			[ -z "$key" ] || awk -v key="$key" -v opt="$o" '
				$1 "." $2 == key && ($3 == opt || "--no-" substr($3, 3) == opt) { found = 1 }
				END { exit !found }' <<<"$conf" ||
				fail "$p: man/$p.1.scd says $o sets $key, but etc/sio.conf names $o for another key"
		done
	done
}

@test "etc/sio.conf holds every key at the default --help shows" {
	local group key opt value want p
	while read -r group key opt value; do
		# The option belongs to at least one program; the first whose man
		# page says the option sets this key tells (another program may have
		# an option of the same name of its own: sio-bench --workers).
		want=-
		for p in $(programs); do
			if long_options "$p" | grep -qx -- "$opt" &&
				[ "$(man_key "$p" "$opt")" = "$group.$key" ]; then
				want=$(help_default "$p" "$opt")
				break
			fi
		done
		[ "$want" != - ] ||
			fail "$group.$key: its option $opt is in no program's --help"
		value=${value#\"} value=${value%\"}
		case $value in
		true) value=yes ;;
		false) value=no ;;
		'[]') value= ;;
		esac
		[ "$value" = "$want" ] ||
			fail "$group.$key = '$value' in etc/sio.conf, but $opt defaults to '$want'"
	done < <(conf_keys)
}

@test "etc/sio.conf passes --check-config" {
	run "$BIN/sio-serve" -c "$ROOT/etc/sio.conf" --check-config
	assert_success
}

@test "the man pages lint clean (mandoc -Tlint, warnings and above)" {
	command -v scdoc >/dev/null || skip "scdoc is not installed"
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	local src page
	for src in "$ROOT"/man/*.scd; do
		page=$BATS_TEST_TMPDIR/$(basename "$src" .scd)
		scdoc <"$src" >"$page" || fail "scdoc failed on ${src#"$ROOT"/}"
		run mandoc -Tlint -W warning "$page"
		[ -z "$output" ] || fail "${src#"$ROOT"/}: $output"
	done
}

@test "the man pages render without warnings (man --warnings)" {
	command -v scdoc >/dev/null || skip "scdoc is not installed"
	command -v man >/dev/null || skip "man is not installed"
	local src page
	for src in "$ROOT"/man/*.scd; do
		page=$BATS_TEST_TMPDIR/$(basename "$src" .scd)
		scdoc <"$src" >"$page" || fail "scdoc failed on ${src#"$ROOT"/}"
		run --separate-stderr env MANWIDTH=80 man --warnings -l "$page"
		assert_success
		[ -z "$stderr" ] || fail "${src#"$ROOT"/}: $stderr"
	done
}

@test "man keeps option names and words whole at line ends" {
	command -v scdoc >/dev/null || skip "scdoc is not installed"
	command -v man >/dev/null || skip "man is not installed"
	local page width
	make --no-print-directory -s -C "$ROOT" man
	for page in "$ROOT"/man/*.[157]; do
		for width in 80 100 120; do
			run --separate-stderr env MANWIDTH=$width man --warnings -l "$page"
			assert_success
			[ -z "$stderr" ] || fail "${page#"$ROOT"/}: $stderr"
			# A line ending in a letter and a hyphen is a word or a --long-option
			# broken in two; the hyphen itself is an ASCII one, to copy.
			run grep -nE '[[:alpha:]]-$' <<<"$output"
			[ -z "$output" ] || fail "${page#"$ROOT"/} at $width columns: $output"
			run grep -c $'\u2212' <<<"$(LC_ALL=C.UTF-8 MANWIDTH=$width man -l "$page")"
			assert_output 0
		done
	done
}

#!/usr/bin/env bash
# Host-side end-to-end check of ./env/run (run on the host, not in the environment; .ci/run does):
# results written through env/run must arrive on the host wherever the command line puts them,
# files outside the checkout must be readable, and errors must end with the command's own message
# and exit code. In native mode (conda) there is no container, so the path checks pass trivially.
#
#   bash tests/host/check_env_run.sh        # prints one line per check, then "N passed, M failed"
#
# Fresh directories outside the checkout, /tmp, $HOME and /var/tmp are made under
# $PNPF_FEM_CHECK_DIR, else the first writable of /srv /mnt /media, else the checkout's parent.
# Everything made is removed at the end.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
run=$top/env/run
passed=0
failed=0
dirs=()
log=$(mktemp)
trap 'rm -rf "${dirs[@]}" "$log"' EXIT

check() { # NAME CONDITION...: one line per check; the last command's output on failure
    local name=$1
    shift
    if "$@"; then
        echo "ok    $name"
        passed=$((passed + 1))
    else
        echo "FAIL  $name"
        sed 's/^/      | /' "$log" | tail -n 15
        failed=$((failed + 1))
    fi
}

a='' b='' c='' c2='' d='' # the fresh directories
fresh() { # VAR BASE: a new directory under BASE, removed at the end
    local new
    new=$(mktemp -d "$2/pnpf-env-check.XXXXXX") || new=$2/pnpf-env-check.could-not-create
    dirs+=("$new")
    printf -v "$1" %s "$new"
}

outside_base() {
    local b
    for b in "${PNPF_FEM_CHECK_DIR:-}" /srv /mnt /media "$(dirname "$top")"; do
        if [ -z "$b" ] || [ ! -d "$b" ] || [ ! -w "$b" ]; then continue; fi
        case "$(cd "$b" && pwd -P)/" in
            "$top/"* | /tmp/* | /var/tmp/* | "$HOME/"*) continue ;;
        esac
        echo "$b"
        return
    done
    dirname "$top" # on a typical workstation: under $HOME, still outside the checkout
}

native=0
if [ "${PNPF_FEM_ENV:-}" = native ] ||
    { [ -z "${PNPF_FEM_ENV:-}" ] && python3 -c 'import dolfinx, dolfinx_mpc' >/dev/null 2>&1; }; then
    native=1
fi

# A fast pnpf-fem command that writes results into --output DIR.
cell() {
    "$run" pnpf-fem cell --shape circle --porosity 0.6 --electrolyte-permittivity 80 \
        --solid-permittivity 4.5 --mesh-size 0.2 --output "$1" >"$log" 2>&1
}
has_json() { compgen -G "$1/*.json" >/dev/null; }

base=$(outside_base)
echo "env/run host check (fresh directories outside the checkout under $base)"
t0=$SECONDS

# (a) output under a fresh /tmp directory
fresh a /tmp
check_a() { cell "$a/out" && has_json "$a/out"; }
check "(a) --output under a fresh /tmp directory arrives on the host" check_a

# (b) output under a fresh directory outside the checkout and the default binds
fresh b "$base"
check_b() { cell "$b/new/out" && has_json "$b/new/out"; }
check "(b) --output under a fresh directory outside the checkout ($base) arrives on the host" check_b

# (c) relative paths from a current directory outside the checkout
fresh c "$base"
fresh c2 "$base"
check_c() { (cd "$c" && cell rel/out) && has_json "$c/rel/out"; }
check "(c) --output relative to a current directory outside the checkout arrives on the host" check_c
check_c2() {
    (cd "$c" && "$run" python3 -c 'import pathlib, sys
p = pathlib.Path(sys.argv[1])
p.parent.mkdir(parents=True)
p.write_text("ok")' "../${c2##*/}/new/file.txt" >"$log" 2>&1) &&
        [ "$(cat "$c2/new/file.txt" 2>/dev/null)" = ok ]
}
check "(c) a relative ../sibling path from there arrives on the host" check_c2

# (d) a case file with a gmsh mesh next to it, outside the checkout: 2D linear triangles with
# named physical curve groups (the boundary tags of demos/charging_small.toml)
fresh d "$base"
cat >"$d/square.msh" <<'EOF'
$MeshFormat
2.2 0 8
$EndMeshFormat
$PhysicalNames
4
1 1 "gamma1"
1 2 "gamma2"
1 3 "gamma3"
2 4 "domain"
$EndPhysicalNames
$Nodes
9
1 0 0 0
2 0.5 0 0
3 1 0 0
4 0 0.5 0
5 0.5 0.5 0
6 1 0.5 0
7 0 1 0
8 0.5 1 0
9 1 1 0
$EndNodes
$Elements
16
1 1 2 1 1 1 2
2 1 2 1 1 2 3
3 1 2 1 3 7 8
4 1 2 1 3 8 9
5 1 2 2 4 1 4
6 1 2 2 4 4 7
7 1 2 3 2 3 6
8 1 2 3 2 6 9
9 2 2 4 5 1 2 5
10 2 2 4 5 1 5 4
11 2 2 4 5 2 3 6
12 2 2 4 5 2 6 5
13 2 2 4 5 4 5 8
14 2 2 4 5 4 8 7
15 2 2 4 5 5 6 9
16 2 2 4 5 5 9 8
$EndElements
EOF
sed -e '/^\[mesh\]/,/^$/c\[mesh]\nfile = "square.msh"\n' -e 's/^end = .*/end = 3e-9/' \
    -e 's/^method = .*/method = "fem-be"/' "$top/demos/charging_small.toml" >"$d/case.toml"
printf 'plots = false\n' >>"$d/case.toml" # the file ends in its [output] section
check_d() {
    "$run" pnpf-fem run "$d/case.toml" --output "$d/out" --quiet >"$log" 2>&1 &&
        grep -q gamma2 "$d/out/summary.json"
}
check "(d) a case file and a gmsh mesh outside the checkout are read, results arrive" check_d

# (e) errors: the command's message is the last line, with the command's exit code
last_line_is_error() { # RC EXPECTED_RC: stderr in $log ends with the pnpf-fem message
    [ "$1" = "$2" ] && tail -n 1 "$log" | grep -q '^pnpf-fem: error: ' &&
        ! grep -q -E 'subprocess exited|Error: exit status|detected that one or more' "$log"
}
"$run" pnpf-fem run "$d/no-such.toml" >/dev/null 2>"$log"
check "(e) a bad case file: exit code 2, its message is the last line" last_line_is_error $? 2
if "$run" python3 -c 'import mpi4py.MPI as m, sys; sys.exit("Open MPI" not in m.Get_library_version())' \
    >/dev/null 2>&1; then
    "$run" mpirun -n 2 pnpf-fem run "$d/no-such.toml" >/dev/null 2>"$log"
    check "(e) the same under mpirun -n 2: exit code 2, its message is the last line" \
        last_line_is_error $? 2
else
    echo "skip  (e) under mpirun: the environment's MPI is not Open MPI"
fi

# (f) a path that cannot be made visible is refused before anything runs
check_f() {
    local top_dir=/pnpf-env-check-no-such-$$ rc=0
    "$run" pnpf-fem run "$d/case.toml" --output "$top_dir/out" >/dev/null 2>"$log" || rc=$?
    [ "$rc" = 2 ] && [ "$(wc -l <"$log")" = 1 ] && [ ! -e "$top_dir" ] &&
        grep -q "^env/run: cannot make $top_dir/out visible in the container: " "$log"
}
if [ "$native" = 0 ]; then
    check "(f) a new top-level directory is refused: exit code 2, one line" check_f
else
    echo "skip  (f) refusals: native mode runs commands as they are"
fi

echo "env/run host check took $((SECONDS - t0)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

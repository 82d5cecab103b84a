#!/bin/sh
# git_workload.sh DIR: a git session for the preload tests, run with LD_PRELOAD set so
# every git process uses the allocator. Creates a repository in DIR, makes three
# commits, repacks, and prints the commit count, the status and a diff summary:
#   commits 3
#   status clean
#   diff 1 file changed, 1000 insertions(+)
set -eu
repo="$1/repo"
export HOME="$1" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Test GIT_AUTHOR_EMAIL=test@example.invalid
export GIT_COMMITTER_NAME=Test GIT_COMMITTER_EMAIL=test@example.invalid
git init -q "$repo"
cd "$repo"
seq 1 5000 > numbers.txt
printf 'hello\n' > hello.txt
git add numbers.txt hello.txt
git commit -q -m "first"
seq 5000 -1 1 > numbers.txt
git commit -q -a -m "second"
seq 1 1000 > more.txt
git add more.txt
git commit -q -m "third"
git gc -q
echo "commits $(git log --oneline | wc -l)"
if [ -z "$(git status --porcelain)" ]; then echo "status clean"; else echo "status dirty"; fi
echo "diff $(git diff --shortstat HEAD~1 HEAD | sed 's/^ *//')"

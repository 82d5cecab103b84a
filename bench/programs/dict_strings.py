"""dict_strings.py: a dict- and string-heavy Python program for the malloc benchmark.

Models: a text-processing job (log or document indexing) in an interpreter: many
short-lived strings, dicts that grow and shrink, lists of strings joined and split.
The driver runs it with PYTHONMALLOC=malloc so that every object goes through the
allocator under test instead of Python's own small-object pool.

Usage: python3 dict_strings.py [rounds=2]
Each round builds documents from a seeded random vocabulary, counts words with a
dict, builds an inverted index (dict of word -> list of document numbers), formats
a report of strings, then throws most of it away.

Checks: word counts from the dict must equal counts from sorting the words (a
second, dict-free method), the index must list every occurrence, and the report
must round-trip through split. Exits 1 with a FAIL line otherwise.
Prints: ok name=python-dict rounds=N words=N distinct=N digest=HEX
"""
import random
import sys
import zlib

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def vocabulary(rng, size):
    return ["".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 12))) for _ in range(size)]


def documents(rng, vocab, count, length):
    return [" ".join(rng.choice(vocab) for _ in range(length)) for _ in range(count)]


def count_with_dict(docs):
    counts = {}
    for doc in docs:
        for word in doc.split():
            counts[word] = counts.get(word, 0) + 1
    return counts


def count_by_sorting(docs):
    words = sorted(word for doc in docs for word in doc.split())
    runs = []
    for word in words:
        if runs and runs[-1][0] == word:
            runs[-1][1] += 1
        else:
            runs.append([word, 1])
    return runs


def inverted_index(docs):
    index = {}
    for number, doc in enumerate(docs):
        for word in doc.split():
            index.setdefault(word, []).append(number)
    return index


def report(counts):
    return "\n".join(f"{word.upper()}:{n:06d}:{word[::-1]}" for word, n in sorted(counts.items()))


def fail(message):
    print(f"FAIL: dict_strings: {message}", file=sys.stderr)
    sys.exit(1)


def check_round(docs, counts, index, text):
    runs = count_by_sorting(docs)
    if len(runs) != len(counts) or any(counts.get(w) != n for w, n in runs):
        fail("dict counts differ from sorted counts")
    if any(len(index[w]) != n for w, n in counts.items()):
        fail("inverted index lost occurrences")
    lines = text.split("\n")
    if len(lines) != len(counts) or any(int(line.split(":")[1]) != counts[line.split(":")[2][::-1]] for line in lines):
        fail("report does not round-trip")


def one_round(rng, vocab, digest):
    docs = documents(rng, vocab, 1500, 120)
    counts = count_with_dict(docs)
    index = inverted_index(docs)
    text = report(counts)
    check_round(docs, counts, index, text)
    for word in list(counts)[::2]:
        del counts[word]
        index.pop(word)
    return zlib.crc32(text.encode(), digest), sum(len(d.split()) for d in docs), len(text.split("\n"))


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rng = random.Random(20240601)
    vocab = vocabulary(rng, 40000)
    digest, words, distinct = 0, 0, 0
    for _ in range(rounds):
        digest, n, d = one_round(rng, vocab, digest)
        words += n
        distinct = max(distinct, d)
    print(f"ok name=python-dict rounds={rounds} words={words} distinct={distinct} digest={digest:08x}")


if __name__ == "__main__":
    main()

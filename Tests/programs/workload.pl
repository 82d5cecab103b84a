# workload.pl: a Perl workload for the preload tests: hashes, strings, sorting and
# regular expressions. The printed values do not depend on the allocator.
use strict;
use warnings;

my %table;
$table{"key$_"} = "v" x ($_ % 13 + 1) for 1 .. 200000;
my $total = 0;
$total += length $_ for values %table;
delete $table{"key$_"} for grep { $_ % 3 == 0 } 1 .. 200000;
print "hash ", scalar(keys %table), " $total\n";

my $text = join ",", map { sprintf "%05d", ($_ * 7919) % 100000 } 1 .. 100000;
my @parts = sort { $a <=> $b } split /,/, $text;
my $matches = () = $text =~ /(\d)\1\1/g;
print "string ", length($text), " $parts[0] $parts[-1] $matches\n";

# What the userland guest runs (scripts/build-userland.sh), and the host too: each line is a name and
# a result that depends only on the program and its input ($1, the data file), never on the CPU or
# the machine's speed, so tests/guest-userland.test.ts compares the guest's lines with the host's.
# Run by bash, in the C locale.
D=$1
K=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
IV=0f0e0d0c0b0a09080706050403020100
h() { sha256sum | cut -c1-64; }
for a in md5 sha1 sha224 sha256 sha384 sha512 sha512-256 sha3-256 sha3-512 shake128 blake2b512 blake2s256 sm3; do
  echo "dgst-$a $(openssl dgst -$a -r $D | cut -d' ' -f1)"
done
for c in aes-128-cbc aes-256-ctr aes-192-ecb chacha20 camellia-256-cbc des-ede3-cbc aria-128-cbc sm4-cbc; do
  case $c in aes-128*|camellia-128*|aria-128*|sm4*) k=${K:0:32};; aes-192*) k=${K:0:48};; des-ede3*) k=${K:0:48};; *) k=$K;; esac
  case $c in des*) iv=${IV:0:16};; *) iv=$IV;; esac
  case $c in *ecb) echo "enc-$c $(openssl enc -$c -K $k -in $D | h)";; *) echo "enc-$c $(openssl enc -$c -K $k -iv $iv -in $D | h)";; esac
done
echo "hmac $(openssl dgst -sha256 -hmac secret -r $D | cut -d' ' -f1)"
echo "prime1 $(openssl prime 170141183460469231731687303715884105727)"
echo "prime2 $(openssl prime 618970019642690137449562111)"
echo "prime3 $(openssl prime 618970019642690137449562113)"
# Each compressor's output is written once, hashed, and decompressed again (the round trip).
T=$(mktemp)
xz -2 -c $D > $T; echo "xz $(h < $T) $(xz -dc $T | h)"
bzip2 -9 -c $D > $T; echo "bzip2 $(h < $T) $(bzip2 -dc $T | h)"
gzip -9 -n -c $D > $T; echo "gzip $(h < $T) $(gzip -dc $T | h)"
zstd -9 -q -c $D > $T; echo "zstd $(h < $T) $(zstd -dq -c $T | h)"
rm -f $T
echo "sums $(sha256sum $D | cut -c1-64) $(md5sum $D | cut -c1-32) $(b2sum $D | cut -c1-16) $(cksum $D | cut -d' ' -f1)"
echo "sha512sum $(sha512sum $D | cut -c1-32)"
echo "bc-pi $(echo 'scale=400; 4*a(1)' | bc -l | tr -d '\\\n' | h)"
echo "bc-e $(echo 'scale=300; e(1)+l(7)+s(0.5)+c(0.25)' | bc -l | tr -d '\\\n' | h)"
echo "bc-pow $(echo '2^4423-1' | bc | tr -d '\\\n' | h)"
echo "bc-div $(echo 'scale=0; 7^900 / 13^300 % 1000000007' | bc)"
echo "factor $(factor 1234567890123456789 18446744073709551557 600851475143 | tr '\n' ' ')"
echo "awk-sum $(gawk 'BEGIN{s=0; for(i=1;i<=100000;i++) s+=sin(i)*cos(i/3); printf "%.9f", s}')"
echo "awk-fn $(gawk 'BEGIN{printf "%.14g %.14g %.14g %.14g %.14g", exp(1), atan2(1,2), log(10), sqrt(3), 2^0.5}')"
echo "awk-int $(gawk 'BEGIN{x=1; for(i=1;i<=50000;i++) x=(x*69069+1)%4294967296; print x}')"
echo "awk-str $(gawk '{n+=length($0); w+=NF} END{print n, w, NR}' $D)"
echo "awk-mpfr $(gawk -M 'BEGIN{print 3^300 % 1000000007, 2^521-1}' | h)"
echo "awk-mpfr-f $(gawk -M -vPREC=300 'BEGIN{printf "%.80f", atan2(0,-1)}')"
echo "perl-lcg $(perl -e 'my $x=1; for (1..100000) { $x = ($x*1103515245+12345) % 2147483648 } print $x')"
echo "perl-f $(perl -e 'printf "%.12f %.12f", sqrt(2)*3.7/1.3, exp(0.5)*log(3)')"
echo "perl-str $(perl -e 'my $s=""; for my $i (1..20000) { $s .= chr(65+($i*7)%26) } my %h; $h{substr($s,$_,3)}++ for 0..length($s)-3; print scalar(keys %h), " ", length($s)')"
echo "perl-sort $(perl -e 'srand(42); my @a=map { int(rand(1e6)) } 1..50000; print join(",", (sort { $a <=> $b } @a)[0,100,25000,49999])')"
echo "sort $(od -An -tx4 -w16 -v $D | head -20000 | sort | h)"
echo "od $(od -An -tf8 -v $D | head -3000 | h)"
echo "tr $(tr 'a-z' 'n-za-m' < $D | h)"
echo "numfmt $(numfmt --to=iec 123456789 987654321012)"
echo "date $(TZ=UTC date -d @1234567890 '+%F %T %j %U')"
echo "expr $(expr 123456789 \* 987 / 13 % 1000)"

module tachigo/bench/loadgen

go 1.22

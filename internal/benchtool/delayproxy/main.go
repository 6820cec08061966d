// Command delayproxy is a TCP proxy that holds every chunk of bytes, in
// each direction, for a fixed time before passing it on: a server that
// far away, for the load benchmark (bench/load.sh REDIS_DELAY=1ms puts
// the Redis store 2 ms away). Chunks keep their order; the delay does not
// limit throughput.
//
// Usage: delayproxy -listen 127.0.0.1:7000 -target 127.0.0.1:6379 -delay 1ms
package main

import (
	"flag"
	"log"
	"net"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "address to forward to")
	delay := flag.Duration("delay", time.Millisecond, "one-way delay")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("delayproxy: %s -> %s, %s each way", ln.Addr(), *target, *delay)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, *target, *delay)
	}
}

func serve(c net.Conn, target string, delay time.Duration) {
	t, err := net.Dial("tcp", target)
	if err != nil {
		log.Print(err)
		c.Close()
		return
	}
	go pipe(t, c, delay)
	pipe(c, t, delay)
}

type chunk struct {
	due time.Time
	b   []byte
}

// pipe copies src to dst, each chunk delay after it was read.
func pipe(dst, src net.Conn, delay time.Duration) {
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{due: time.Now().Add(delay), b: b[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		time.Sleep(time.Until(ch.due))
		if _, err := dst.Write(ch.b); err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

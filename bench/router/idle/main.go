// Command idle opens many keep-alive connections to a proxy, sends one
// GET on each and keeps them open and idle, so that bench/router/run.sh
// can read the proxy's memory with that many idle clients.
//
//	idle -target 127.0.0.1:8080 -conns 10000
//
// It prints "ready N" once every connection has its answer, then holds
// them until SIGTERM or SIGINT.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	target := flag.String("target", "127.0.0.1:8080", "host:port of the proxy")
	conns := flag.Int("conns", 10000, "idle keep-alive connections to hold")
	flag.Parse()
	held, err := open(*target, *conns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
	fmt.Println("ready", len(held))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, c := range held {
		c.Close()
	}
}

// open dials n connections, 100 at a time, each with one answered GET.
func open(target string, n int) ([]net.Conn, error) {
	held := make([]net.Conn, n)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, 100)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := one(target)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("connection %d: %w", i, err)
				}
				mu.Unlock()
				return
			}
			held[i] = c
		}()
	}
	wg.Wait()
	return held, first
}

func one(target string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /1k HTTP/1.1\r\nHost: %s\r\n\r\n", target); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

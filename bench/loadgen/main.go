// Command loadgen sends heartbeats to the tachigo API over keep-alive connections and
// prints one JSON object with the request count, status counts, rate and latency
// percentiles. It uses only the Go standard library. `tachigo bench ingest` builds and
// runs it; see docs/performance.md.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	url         string
	tokensPath  string
	channelID   string
	connections int
	duration    time.Duration
	timeout     time.Duration
}

// workerResult is what one connection's loop measured.
type workerResult struct {
	latenciesUs []int64
	statuses    map[int]int64
	errors      int64
	lastError   string
}

type report struct {
	Requests     int64              `json:"requests"`
	Seconds      float64            `json:"seconds"`
	Connections  int                `json:"connections"`
	Status       map[string]int64   `json:"status"`
	Errors       int64              `json:"errors"`
	LastError    string             `json:"last_error,omitempty"`
	RequestsPerS float64            `json:"requests_per_s"`
	AcceptedPerS float64            `json:"accepted_per_s"`
	LatencyMs    map[string]float64 `json:"latency_ms"`
}

func main() {
	opts := parseOptions()
	tokens, err := readTokens(opts.tokensPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(2)
	}
	body, err := json.Marshal(map[string]string{"channel_id": opts.channelID})
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(2)
	}
	out := run(opts, tokens, body)
	encoder := json.NewEncoder(os.Stdout)
	if err := encoder.Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(2)
	}
}

func parseOptions() options {
	var opts options
	flag.StringVar(&opts.url, "url", "http://127.0.0.1:8080/api/v1/heartbeats", "heartbeat endpoint")
	flag.StringVar(&opts.tokensPath, "tokens", "", "file with one bearer token per line")
	flag.StringVar(&opts.channelID, "channel", "", "channel_id sent in every body")
	flag.IntVar(&opts.connections, "connections", 64, "concurrent keep-alive connections")
	flag.DurationVar(&opts.duration, "duration", 10*time.Second, "how long to send")
	flag.DurationVar(&opts.timeout, "timeout", 5*time.Second, "per-request timeout")
	flag.Parse()
	if opts.tokensPath == "" || opts.channelID == "" || opts.connections < 1 {
		fmt.Fprintln(os.Stderr, "loadgen: -tokens, -channel and -connections >= 1 are required")
		os.Exit(2)
	}
	return opts
}

func readTokens(path string) ([]string, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var tokens []string
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 64*1024), 64*1024)
	for scanner.Scan() {
		if line := bytes.TrimSpace(scanner.Bytes()); len(line) > 0 {
			tokens = append(tokens, "Bearer "+string(line))
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, errors.New("token file is empty")
	}
	return tokens, nil
}

func run(opts options, tokens []string, body []byte) report {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: opts.timeout}).DialContext,
		MaxIdleConns:        opts.connections,
		MaxIdleConnsPerHost: opts.connections,
		MaxConnsPerHost:     opts.connections,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: transport, Timeout: opts.timeout}
	var next atomic.Uint64
	results := make([]workerResult, opts.connections)
	started := time.Now()
	deadline := started.Add(opts.duration)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func(result *workerResult) {
			defer wg.Done()
			sendUntil(client, opts.url, tokens, body, &next, deadline, result)
		}(&results[i])
	}
	wg.Wait()
	return summarize(results, time.Since(started), opts.connections)
}

// sendUntil sends requests one after another on its connection until the deadline.
func sendUntil(client *http.Client, url string, tokens []string, body []byte,
	next *atomic.Uint64, deadline time.Time, result *workerResult) {
	result.statuses = map[int]int64{}
	for time.Now().Before(deadline) {
		token := tokens[int(next.Add(1)-1)%len(tokens)]
		request, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			result.errors++
			result.lastError = err.Error()
			continue
		}
		request.Header.Set("Authorization", token)
		request.Header.Set("Content-Type", "application/json")
		sent := time.Now()
		response, err := client.Do(request)
		if err != nil {
			result.errors++
			result.lastError = err.Error()
			continue
		}
		// Drain the body so the connection goes back to the pool for reuse.
		_, _ = io.Copy(io.Discard, response.Body)
		response.Body.Close()
		result.latenciesUs = append(result.latenciesUs, time.Since(sent).Microseconds())
		result.statuses[response.StatusCode]++
	}
}

func summarize(results []workerResult, elapsed time.Duration, connections int) report {
	var latencies []int64
	statuses := map[string]int64{}
	out := report{Connections: connections, Seconds: elapsed.Seconds()}
	for _, result := range results {
		latencies = append(latencies, result.latenciesUs...)
		for status, count := range result.statuses {
			statuses[strconv.Itoa(status)] += count
		}
		out.Errors += result.errors
		if result.lastError != "" {
			out.LastError = result.lastError
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	out.Requests = int64(len(latencies))
	out.Status = statuses
	out.RequestsPerS = float64(out.Requests) / out.Seconds
	out.AcceptedPerS = float64(statuses["202"]) / out.Seconds
	out.LatencyMs = map[string]float64{
		"p50": percentileMs(latencies, 0.50),
		"p90": percentileMs(latencies, 0.90),
		"p99": percentileMs(latencies, 0.99),
		"max": percentileMs(latencies, 1.0),
	}
	return out
}

// percentileMs returns the nearest-rank percentile of sorted microsecond latencies in ms.
func percentileMs(sorted []int64, share float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(share*float64(len(sorted))+0.999999) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(sorted) {
		rank = len(sorted) - 1
	}
	return float64(sorted[rank]) / 1000.0
}

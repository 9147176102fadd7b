// Package notify sends deployment events to webhooks.
//
// Main flow: New parses the webhook URLs and registers the metrics; Run
// reads store.Events from a channel and, for each one, encodes a JSON
// message (the event's fields, the app and a Slack-compatible "text") and
// puts it on every URL's own bounded queue. One worker per URL POSTs its
// queue in order, retrying transient failures (network errors, timeouts,
// 408, 429, 5xx) with exponential backoff and jitter; 2xx is delivered,
// any other status is given up at once. A slow or dead webhook only fills
// its own queue: when full, the oldest message is dropped, counted in
// bluegreen_webhook_dropped_total{url_host} and logged, so the consumer and
// the other URLs never wait. When ctx is done (or the channel closes), Run
// stops reading, lets the workers flush their queues for a short grace and
// then cancels what is left. Every message's end is counted in
// bluegreen_webhook_deliveries_total{url_host,outcome} (delivered, rejected,
// failed).
//
// Webhook URLs often carry tokens in the userinfo or the query string:
// those parts never reach a log line or an error; only scheme://host/path
// is logged.
package notify

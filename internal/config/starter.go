package config

import (
	"fmt"
	"strings"
)

// Starter is a commented bluegreen.yaml for `bluegreen init`: every key
// with its default and a one-line comment. It uses the static driver (blue
// on 127.0.0.1:3001, green on 127.0.0.1:3002) with the process driver's
// lines commented out, and one HTTP check on /health.
func Starter(app string) string {
	name := app
	if !validApp(app) {
		name = fmt.Sprintf("%q", app)
	}
	return strings.Replace(starterText, "@APP@", name, 1)
}

const starterText = `# bluegreen.yaml: how bluegreen releases this app.
# Durations are Go durations (500ms, 2s, 1m); percentages are written 10%;
# sizes are bytes or 512KiB, 32MiB, 1GB.
# Relative paths are relative to this file's directory.

app: @APP@                         # the service under management
listen: 127.0.0.1:8080             # production traffic
preview_listen: 127.0.0.1:8081     # always reaches the idle slot (for tests); "" turns it off
admin_listen: 127.0.0.1:9090       # admin API, dashboard and /metrics
# HTTPS (and HTTP/2) on a listener: PEM files, read again when they change.
# listen_tls: { cert_file: certs/tls.crt, key_file: certs/tls.key }
# listen_tls: { acme: { domains: [shop.example.com], email: ops@example.com } }   # or Let's Encrypt (docs/tls.md: staging first)
# preview_listen_tls: { cert_file: certs/tls.crt, key_file: certs/tls.key }
# admin_listen_tls: { cert_file: certs/tls.crt, key_file: certs/tls.key }
# redirect_listen: 0.0.0.0:80         # plain HTTP answered with a redirect to listen's HTTPS
state: .bluegreen/state.db         # SQLite file, or postgres://… for shared state
admin_token_file: .bluegreen/admin.token   # bearer token of the admin API
metrics_auth: false                # true: /metrics needs the admin token too

driver:
  kind: static                     # process | static | kubernetes | ecs
  static:                          # releases run elsewhere; bluegreen only routes
    blue: ["127.0.0.1:3001"]       # host:port of each blue instance
    green: ["127.0.0.1:3002"]      # host:port of each green instance
  # To let bluegreen run the release itself, set kind: process and fill in:
  # process:
  #   command: ["./bin/app", "--listen", "127.0.0.1:{port}"]  # {port} {slot} {version}
  #   env: { DATABASE_URL: "${DATABASE_URL}" }  # ${VAR} and ${VAR:-default} are expanded
  #   instances: 2                 # processes per slot
  #   stop_timeout: 30s            # SIGTERM, then SIGKILL after this
  #   dir: .                       # working directory of the processes
  #   log_dir: .bluegreen/logs     # one log file per instance
  # On Kubernetes, set kind: kubernetes (traffic service needs strategy: all-at-once):
  # kubernetes:
  #   kubeconfig: ""               # "": in-cluster in a pod, else $KUBECONFIG or ~/.kube/config
  #   namespace: default
  #   manifest: deploy/shop.yaml   # a Deployment manifest; its spec.template is the pod template
  #   # template: { spec: { containers: [{ name: web }] } }  # or the template inline (not both)
  #   image: registry.example.com/shop:{version}  # {version} {slot}
  #   container: ""                # the container whose image is set; "" = the first
  #   replicas: 2                  # pods per slot
  #   slot_label: version          # the pod label that says blue or green
  #   min_ready: 100%              # share of replicas updated, ready and available to be ready
  #   traffic: service             # service | gateway | ingress-nginx | router
  #   gateway: ""                  # traffic gateway (required): the HTTPRoute's Gateway, my-gateway or infra/my-gateway
  #   ingress_class: ""            # traffic ingress-nginx: both Ingresses' ingressClassName; "": the cluster's default
  #   port: 80                     # the Services' port and the pods' target port
  # On AWS ECS behind an ALB, set kind: ecs (see docs/ecs.md):
  # ecs:
  #   region: ""                   # "": AWS_REGION or the shared config
  #   cluster: prod
  #   service: shop                # the ECS services shop-blue and shop-green
  #   # services: { blue: shop-a, green: shop-b }  # or name each (not both)
  #   task_family: shop            # the task definition family both run
  #   container: ""                # the container whose image is set; "" = the first
  #   image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:{version}
  #   desired_count: 2             # tasks per slot
  #   min_healthy: 80%             # share of desired_count healthy in the target group to be ready
  #   target_groups: { blue: arn:aws:elasticloadbalancing:…:targetgroup/shop-blue/…, green: … }
  #   listener: arn:aws:elasticloadbalancing:…:listener/app/shop/…  # production listener
  #   test_listener: ""            # a listener that always reaches the idle slot (optional)
  #   endpoint: ""                 # tests only: one endpoint for ECS, ELBv2 and CloudWatch

health:
  path: /health                    # answered 2xx or 3xx by a healthy instance
  interval: 1s                     # time between active checks
  timeout: 2s                      # one check's deadline
  healthy_threshold: 2             # passes in a row to be healthy
  unhealthy_threshold: 3           # failures in a row to be unhealthy
  max_passive_ejection: 50%        # share of a slot's instances failed requests alone may take out; the rest wait for active checks
  ready_timeout: 60s               # how long a new release may take to become healthy

routing:
  drain_timeout: 30s               # in-flight requests and streams on a slot that loses traffic
  sticky: { cookie: bg_slot, ttl: 1h }   # keep a client on one slot during a shift; cookie "" turns it off
  affinity: cookie                 # cookie (the sticky cookie) | client_ip (hash of the client address) | none
  mcp_sessions: true               # pin Mcp-Session-Id to the slot that issued it
  session_drain: 0s                # how long the old slot's MCP sessions may hold up its scale-down; 0s: drain_timeout
  mcp_metrics: true                # count MCP calls per method, tool and outcome (reads JSON POST bodies up to 64 KiB)
  max_request_body: 32MiB          # larger request bodies get 413 (KiB, MiB, GiB; KB, MB, GB); 0: no limit
  response_header_timeout: 60s     # an instance sending no response headers in this time: 504; 0s: no limit
  # trusted_proxies: [10.0.0.0/8]  # proxies (CIDRs or addresses) whose X-Forwarded-For/-Host/-Proto are kept and appended to; from others they are replaced
  preview_header: { name: X-Canary-Version, value_file: .bluegreen/preview.secret }  # header + secret reach the idle slot

strategy: linear 10% every 3m      # all-at-once | linear N% every D | canary N% for D
bake_time: 5m                      # 100% on the new slot, still analysed, before success
scale_down_delay: 30m              # old slot kept warm for instant rollback

checks:                            # run against the idle slot through the preview route
  - name: health
    slot: idle                     # idle | live | both
    timeout: 10s                   # per attempt
    retries: 0                     # extra attempts when it fails
    after_promotion: false         # run again once live; a failure rolls back
    http: { method: GET, path: /health, expect: { status: 200 }, max_latency: 0s }  # 0s: no latency limit
  # - name: tools
  #   mcp: { path: /mcp, tools_list: { min: 1, compare_with_live: breaking-fails }, call: { tool: search, arguments: { q: test } } }
  # - name: widget
  #   browser: { path: /widget-test, wait_for: "window.openai !== undefined" }   # or widget: ui://widget/main.html
  # - name: suite
  #   command: ["npx", "playwright", "test"]   # gets TEST_URL of the preview route

analysis:
  interval: 30s                    # how long each traffic step is measured
  min_requests: 50                 # fewer requests: inconclusive, never a silent pass
  rules:                           # new slot against limits and against the live slot
    - { metric: error_rate, max: 1%, max_ratio_to_live: 2 }
    - { metric: latency_p99, max_ratio_to_live: 1.5 }
    # - { metric: latency_p50, compare: statistical }   # Mann-Whitney U: new slower than live?
    # - { metric: error_rate, max: 2%, mcp_method: tools/call, mcp_tool: search }   # only the requests selected
    # - { metric: latency_p99, max: 500ms, path_prefix: /api/ }
  on_inconclusive: pause           # pause | extend | fail
  failure_limit: 0                 # failed windows tolerated; more rolls back
  consecutive_failures: 0          # if above 0: this many failed windows in a row roll back
  # providers:                     # external verdicts on each window too (docs/analysis.md)
  #   - name: upstream-errors
  #     prometheus: { url: http://127.0.0.1:9090, query: 'sum(rate(bluegreen_requests_total{slot="{{slot}}",code=~"5.."}[{{window}}]))', max: 0.5 }
  #   - name: business
  #     webhook: { url: http://127.0.0.1:8099/verdict }   # answers {"result":"pass|fail|inconclusive","reason":"…"}
  #   - name: alb                  # driver.kind ecs only: the target groups' ALB metrics (docs/ecs.md)
  #     cloudwatch: { period: 60s }
  # synthetic:                     # requests to both slots while analysing, for apps with little traffic
  #   rate: 5                      # per second to each slot
  #   timeout: 5s
  #   requests:
  #     - { method: GET, path: /health }
  #     - mcp: { path: /mcp, tool: search, arguments: { q: test } }

migrations:
  dir: migrations                  # NNNN_name/expand.sql, contract.sql, ...
  database_url: ""                 # postgres://…, sqlite:path or ${DATABASE_URL}; "" means no migrations

releases: {}                       # what each release needs from the schema, such as
#   v2: { requires: [0007_split_address] }

notify: []                         # webhooks that receive each event as JSON, such as
#   - webhook: https://hooks.example.com/deploys

limits:                            # per listener (production, preview), against slow or abusive clients
  max_connections: 10000           # at the limit a new connection replaces the oldest one without a whole request; 0: no limit
  read_header_timeout: 10s         # time a client has to send a request's headers
  idle_timeout: 2m                 # time a keep-alive connection may wait for its next request

runtime:                           # the bluegreen process itself
  gc_heap_floor: 64MiB             # Go's garbage collector waits until the heap is this big (CPU for memory); 0: Go's default; GOGC set wins
`

#!/usr/bin/env bash
# Checks the deployment files without running anything:
#   prometheus   deploy/prometheus.yml is a valid Prometheus config, and the rule
#                files it names exist and parse
#   alerts       deploy/alerts.yml is a valid rule file
#   alert tests  the unit tests of deploy/alerts.test.yml pass
#   kubernetes   deploy/k8s validates against the Kubernetes schemas and fits
#                together (scripts/validate-k8s.sh)
# Each check is one function below; to add one, write a check_* function and
# call it from main. Exits non-zero at the first failure.
# Usage: scripts/check-deploy.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

require_promtool() {
    if ! command -v promtool >/dev/null 2>&1; then
        echo "check-deploy: promtool not found; it comes with Prometheus (Debian/Ubuntu: apt-get install prometheus)" >&2
        exit 1
    fi
}

check_prometheus_config() {
    # Relative rule_files are resolved against the config file's directory,
    # so this also checks that deploy/alerts.yml is where the config says.
    echo "==> promtool check config deploy/prometheus.yml"
    promtool check config deploy/prometheus.yml
}

check_alert_rules() {
    echo "==> promtool check rules deploy/alerts.yml"
    promtool check rules deploy/alerts.yml
}

check_alert_tests() {
    echo "==> promtool test rules deploy/alerts.test.yml"
    promtool test rules deploy/alerts.test.yml
}

check_k8s() {
    echo "==> scripts/validate-k8s.sh"
    scripts/validate-k8s.sh
}

main() {
    require_promtool
    echo "check-deploy: $(promtool --version 2>&1 | head -n 1)"
    check_prometheus_config
    check_alert_rules
    check_alert_tests
    check_k8s
    echo "check-deploy: all checks passed"
}

main "$@"

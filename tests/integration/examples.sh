#!/usr/bin/env bash
# The files of examples/ work as shipped:
#   * every identity configuration in examples/config/ loads through two
#     entry points: `fulcrum serve --config-path FILE` lists each issuer the
#     file declares (GET /api/v2/configuration: URL, type, audience; nothing
#     else), and `fulcrum token --config-path FILE` refuses a token from an
#     issuer the file does not know, naming that issuer (exit 1, not a
#     configuration error);
#   * copies of the files with one issuer's URL pointed at a local test
#     issuer turn real tokens into the identities the comments promise (the
#     Dex connector as issuer, the GitHub and GitLab templates with the
#     github.com / GHES / self-managed URLs, the Kubernetes SAN, Okta's
#     client id as audience), and Entra ID's commented alternative loads;
#   * the systemd units in examples/systemd/ pass `systemd-analyze verify`
#     with no message at all (systemd 252 reports unknown keys and system
#     call groups as warnings with exit status 0), and their exposure under
#     `systemd-analyze security --offline=true` stays "OK" or better.
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
X="$root/examples"
command -v jq >/dev/null || t_skip "jq not installed"
command -v systemd-analyze >/dev/null || t_skip "systemd-analyze not installed (Debian: systemd)"

# --- what each file declares: FILE KIND URL TYPE AUDIENCE [SUBJECT-DOMAIN]
# (KIND fixed = oidc-issuers, meta = meta-issuers). Kept here, apart from
# the files, so that a changed example must be changed here too.
declared() {
  cat <<'EOF'
dex.yaml fixed https://dex.example.com/auth email sigstore
keycloak.yaml fixed https://keycloak.example.com/realms/engineering email sigstore
github-actions.yaml fixed https://token.actions.githubusercontent.com ci-provider sigstore
github-actions.yaml fixed https://github.example.com/_services/token ci-provider sigstore
gitlab-ci.yaml fixed https://gitlab.com ci-provider sigstore
gitlab-ci.yaml fixed https://gitlab.example.com ci-provider sigstore
kubernetes.yaml fixed https://k8s.example.com kubernetes sigstore
kubernetes.yaml meta https://oidc.eks.*.amazonaws.com/id/* kubernetes sigstore
kubernetes.yaml meta https://container.googleapis.com/v1/projects/*/locations/*/clusters/* kubernetes sigstore
okta.yaml fixed https://example.okta.com/oauth2/default email 0oa1example2EXAMPLE3x7
entra-id.yaml fixed https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0 username 11111111-1111-1111-1111-111111111111 login.microsoftonline.com
combined.yaml fixed https://dex.example.com/auth email sigstore
combined.yaml fixed https://token.actions.githubusercontent.com ci-provider sigstore
combined.yaml fixed https://gitlab.example.com ci-provider sigstore
combined.yaml fixed https://k8s.example.com kubernetes sigstore
combined.yaml meta https://oidc.eks.*.amazonaws.com/id/* kubernetes sigstore
EOF
}

issuer_start idp
stranger=$(mint "$idp_URL" '{"claims":{"sub":"s","email":"s@example.com","email_verified":true}}')

files=$(cd "$X/config" && ls -- *.yaml)
listed=$(declared | cut -d' ' -f1 | sort -u)
[ "$files" = "$listed" ] && t_ok "every file of examples/config has its issuers listed here: $(echo $files)" \
  || t_bad "examples/config holds [$(echo $files)], this test lists [$(echo $listed)]"

# check_served FILE: fulcrum serve loads FILE and its configuration document
# lists exactly the declared issuers; it then stops cleanly.
check_served() {
  local f=$1 n=0 kind url type aud sd pid_var pid
  local cfg="$X/config/$f"
  if ! serve_start ex --ca ephemeralca --config-path "$cfg"; then
    t_bad "$f: fulcrum serve did not start: $(cat "$T_TMP/ex.serve.log")"
    return
  fi
  http GET "$ex_URL/api/v2/configuration"
  while read -r _ kind url type aud sd; do
    n=$((n + 1))
    if jq -e --arg k "$kind" --arg u "$url" --arg t "$type" --arg a "$aud" --arg sd "${sd:-}" '
        [.issuers[] | select((if $k == "meta" then .wildcardIssuerUrl else .issuerUrl end) == $u
          and .issuerType == $t and .audience == $a and .subjectDomain == $sd)] | length == 1' \
        <<<"$H_BODY" >/dev/null 2>&1; then
      t_ok "$f: serve lists $kind $url ($type, audience $aud${sd:+, subject domain $sd})"
    else
      t_bad "$f: $kind $url ($type, $aud) not listed: $H_STATUS $H_BODY"
    fi
  done < <(declared | grep "^$f ")
  if [ "$(jq '.issuers | length' <<<"$H_BODY" 2>/dev/null)" = "$n" ]; then
    t_ok "$f: $n issuer(s), no others"
  else
    t_bad "$f: want $n issuers, got: $H_BODY"
  fi
  pid_var=ex_PID
  pid=${!pid_var}
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  local rc=$?
  if [ "$rc" -eq 0 ] && ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T_TMP/ex.serve.log"; then
    t_ok "$f: fulcrum serve stopped with exit 0"
  else
    t_bad "$f: fulcrum serve exit $rc: $(tail -5 "$T_TMP/ex.serve.log")"
  fi
  rm -f "$T_TMP/ex.serve.port"
}

for f in $files; do
  check_served "$f"
  expect_refused "$f: fulcrum token refuses a token of an unknown issuer" "$X/config/$f" "$stranger" \
    "issuer \"$idp_URL\" is not configured"
done

# --- the identities, through copies pointed at test issuers
# rehost FILE OLD-URL NEW-URL OUT: FILE with the issuer key and issuer-url
# OLD-URL replaced (nothing else: template URLs stay as shipped).
rehost() {
  local from=$1 old=$2 new=$3 out=$4
  awk -v o="$old" -v n="$new" '
    { line = $0 }
    line == "  " o ":" { line = "  " n ":" }
    line == "    issuer-url: " o { line = "    issuer-url: " n }
    { print line }' "$from" >"$out"
  [ "$(grep -c -F -- "$new" "$out")" -eq 2 ] || { echo "rehost: $old not found twice in $from" >&2; return 1; }
}
E=1.3.6.1.4.1.57264.1

rehost "$X/config/dex.yaml" https://dex.example.com/auth "$idp_URL" "$T_TMP/dex.yaml"
tok=$(mint "$idp_URL" '{"claims":{"sub":"Cg0xMjM0EgZnaXRodWI","email":"alice@example.com","email_verified":true,"federated_claims":{"connector_id":"https://github.com/login/oauth","user_id":"1234"}}}')
expect_identity "dex.yaml: email SAN, the Dex connector as issuer" "$T_TMP/dex.yaml" "$tok" '
  .san_type == "email" and .san == "alice@example.com" and .issuer == "'"$idp_URL"'"
  and .extensions["'$E'.1"] == "https://github.com/login/oauth"
  and .extensions["'$E'.8"] == "https://github.com/login/oauth"'

rehost "$X/config/keycloak.yaml" https://keycloak.example.com/realms/engineering "$idp_URL" "$T_TMP/kc.yaml"
tok=$(mint "$idp_URL" '{"claims":{"sub":"f3b6","email":"bob@example.com","email_verified":false}}')
expect_refused "keycloak.yaml: an unverified address is refused" "$T_TMP/kc.yaml" "$tok" 'email_verified|not verified'

rehost "$X/config/okta.yaml" https://example.okta.com/oauth2/default "$idp_URL" "$T_TMP/okta.yaml"
tok=$(mint "$idp_URL" '{"claims":{"sub":"00u1","email":"carol@example.com","email_verified":true,"aud":"0oa1example2EXAMPLE3x7"}}')
expect_identity "okta.yaml: the app's client id as audience" "$T_TMP/okta.yaml" "$tok" '.san == "carol@example.com"'
tok=$(mint "$idp_URL" '{"claims":{"sub":"00u1","email":"carol@example.com","email_verified":true}}')
expect_refused "okta.yaml: a token for audience sigstore is refused" "$T_TMP/okta.yaml" "$tok" 'aud'

gh='"sub":"repo:acme/app:ref:refs/heads/main","job_workflow_ref":"acme/app/.github/workflows/release.yml@refs/heads/main","sha":"1111111111111111111111111111111111111111","event_name":"push","repository":"acme/app","workflow":"release","ref":"refs/heads/main","job_workflow_sha":"2222222222222222222222222222222222222222","runner_environment":"self-hosted","repository_id":"42","repository_owner":"acme","repository_owner_id":"7","repository_visibility":"private","workflow_ref":"acme/app/.github/workflows/release.yml@refs/heads/main","workflow_sha":"2222222222222222222222222222222222222222","run_id":"99","run_attempt":"1"'
issuer_start ghes
rehost "$X/config/github-actions.yaml" https://token.actions.githubusercontent.com "$idp_URL" "$T_TMP/gh1.yaml"
rehost "$T_TMP/gh1.yaml" https://github.example.com/_services/token "$ghes_URL" "$T_TMP/gh.yaml"
for host in idp:https://github.com ghes:https://github.example.com; do
  var="${host%%:*}_URL"
  web=${host#*:}
  tok=$(mint "${!var}" "{\"claims\":{$gh}}")
  expect_identity "github-actions.yaml: $web workflow" "$T_TMP/gh.yaml" "$tok" '
    .san == "'"$web"'/acme/app/.github/workflows/release.yml@refs/heads/main"
    and .extensions["'$E'.12"] == "'"$web"'/acme/app"
    and .extensions["'$E'.21"] == "'"$web"'/acme/app/actions/runs/99/attempts/1"
    and .extensions["'$E'.11"] == "self-hosted" and .extensions["'$E'.22"] == "private"'
done
tok=$(mint "$ghes_URL" '{"claims":{"sub":"repo:acme/app","repository":"acme/app"}}')
expect_refused "github-actions.yaml: a token without the workflow claims" "$T_TMP/gh.yaml" "$tok" 'job_workflow_ref'

gl='"sub":"project_path:acme/app:ref_type:tag:ref:v1.2.0","project_path":"acme/app","pipeline_source":"push","pipeline_id":"10","ci_config_ref_uri":"gitlab.example.com/acme/app//.gitlab-ci.yml@refs/tags/v1.2.0","ci_config_sha":"3333333333333333333333333333333333333333","job_id":"20","ref":"v1.2.0","ref_type":"tag","namespace_path":"acme","namespace_id":"5","project_id":"6","sha":"4444444444444444444444444444444444444444","runner_environment":"self-hosted","runner_id":30,"project_visibility":"internal"'
rehost "$X/config/gitlab-ci.yaml" https://gitlab.example.com "$idp_URL" "$T_TMP/gl.yaml"
tok=$(mint "$idp_URL" "{\"claims\":{$gl}}")
expect_identity "gitlab-ci.yaml: self-managed GitLab job" "$T_TMP/gl.yaml" "$tok" '
  .san == "https://gitlab.example.com/acme/app//.gitlab-ci.yml@refs/tags/v1.2.0"
  and .extensions["'$E'.12"] == "https://gitlab.example.com/acme/app"
  and .extensions["'$E'.14"] == "refs/tags/v1.2.0"
  and .extensions["'$E'.21"] == "https://gitlab.example.com/acme/app/-/jobs/20"'

rehost "$X/config/kubernetes.yaml" https://k8s.example.com "$idp_URL" "$T_TMP/k8s.yaml"
tok=$(mint "$idp_URL" '{"claims":{"sub":"system:serviceaccount:prod:builder","kubernetes.io":{"namespace":"prod","serviceaccount":{"name":"builder","uid":"u1"}}}}')
expect_identity "kubernetes.yaml: the service account's SAN" "$T_TMP/k8s.yaml" "$tok" '
  .san == "https://kubernetes.io/namespaces/prod/serviceaccounts/builder" and .pop_subject == "system:serviceaccount:prod:builder"'

rehost "$X/config/combined.yaml" https://token.actions.githubusercontent.com "$idp_URL" "$T_TMP/comb.yaml"
tok=$(mint "$idp_URL" "{\"claims\":{$gh}}")
expect_identity "combined.yaml: a GitHub workflow" "$T_TMP/comb.yaml" "$tok" '
  .san == "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"'

# Entra ID's option 2 (email, skip-email-verification), uncommented, loads.
sed -n '/^# Option 2/,$p' "$X/config/entra-id.yaml" | sed -n 's/^# \{0,1\}//p' | sed '1d' >"$T_TMP/entra2.yaml"
token_check "$T_TMP/entra2.yaml" "$stranger"
if [ "$T_RC" -eq 1 ] && grep -q 'is not configured' <<<"$T_ERR" && grep -q 'skip-email-verification: true' "$T_TMP/entra2.yaml"; then
  t_ok "entra-id.yaml: the commented alternative (email, skip-email-verification) loads"
else
  t_bad "entra-id.yaml alternative: rc=$T_RC $T_ERR; file: $(cat "$T_TMP/entra2.yaml")"
fi

# --- the systemd units (verified together: fulcrum-serve.service names
# fulcrum-ctlog.service in After=)
units=()
for unit in "$X"/systemd/*.service; do
  # verify needs the ExecStart binary to exist: point it at this build.
  sed "s#/usr/local/bin/fulcrum#$FULCRUM_BIN#" "$unit" >"$T_TMP/$(basename "$unit")"
  units+=("./$(basename "$unit")")
done
out=$(cd "$T_TMP" && systemd-analyze verify "${units[@]}" 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
  t_ok "systemd-analyze verify ${units[*]#./}: no message"
else
  t_bad "systemd-analyze verify exit $rc: $out"
fi
for unit in "$X"/systemd/*.service; do
  name=$(basename "$unit")
  level=$(cd "$T_TMP" && systemd-analyze security --offline=true "./$name" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
  case ${level#* } in
    OK | SAFE | PERFECT) t_ok "$name: systemd-analyze security: exposure $level" ;;
    *) t_bad "$name: exposure '$level'" ;;
  esac
  missing=""
  for setting in 'User=fulcrum' 'NoNewPrivileges=yes' 'CapabilityBoundingSet=$' 'ProtectSystem=strict' 'PrivateTmp=yes' \
                 'SystemCallFilter=@system-service' 'LoadCredential=pin:' '--pkcs11-pin-file %d/pin' 'EnvironmentFile='; do
    grep -Eq -- "^[^#]*$setting" "$unit" || missing+=" '$setting'"
  done
  [ -z "$missing" ] && t_ok "$name: dedicated user, hardening, PIN as a credential, settings from a file" \
    || t_bad "$name: lacks$missing"
done
grep -q '^StateDirectory=fulcrum-ctlog$' "$X/systemd/fulcrum-ctlog.service" \
  && grep -q -- '--storage-dir %S/fulcrum-ctlog' "$X/systemd/fulcrum-ctlog.service" \
  && t_ok "fulcrum-ctlog.service: storage in its StateDirectory" || t_bad "fulcrum-ctlog.service: storage"
# Every variable the units use is set in their env files.
for pair in fulcrum-serve:fulcrum-serve.env fulcrum-ctlog:fulcrum-ctlog.env; do
  unit="$X/systemd/${pair%%:*}.service"
  envf="$X/systemd/${pair#*:}"
  missing=""
  for v in $(grep -v '^#' "$unit" | grep -o '\${\?[A-Z][A-Z0-9_]*}\?' | tr -d '${}' | sort -u); do
    [ "$v" = MAINPID ] && continue
    grep -q "^$v=" "$envf" || missing+=" $v"
  done
  [ -z "$missing" ] && t_ok "${pair#*:} sets every variable of ${pair%%:*}.service" \
    || t_bad "${pair#*:} lacks:$missing"
done

t_done

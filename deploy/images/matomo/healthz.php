<?php

// Readiness and liveness probe (served as /healthz.php in every serving role): PHP answers and both
// mounted config files are readable. It does not boot Matomo or reach the database on purpose, so a
// database outage never makes Kubernetes restart every pod of a tenant.
$configDir = '/var/www/html/config/';
$ok = is_readable($configDir . 'common.config.ini.php') && is_readable($configDir . 'config.ini.php');

http_response_code($ok ? 200 : 503);
header('Content-Type: text/plain; charset=utf-8');
header('Cache-Control: no-store');
echo $ok ? 'ok' : 'config not mounted';

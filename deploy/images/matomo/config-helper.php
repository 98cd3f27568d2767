<?php

/**
 * Matomo MultiScale: what the entrypoint needs to know about the tenant's config and database, answered
 * without booting Matomo. Config files are read the way Matomo reads them (its own INI reader; global <
 * common merged key by key; config.ini.php replacing whole keys; HTML entities decoded).
 *
 *   state                 print absent | incomplete | complete (see installState)
 *   verify COMPONENT...   exit 1, naming what is missing, unless installed with these plugin components
 *   db-env                print NAME=value lines of [database] for ExtraTools' matomo:install
 *   work-config MODE DEST write the writable config.ini.php copy for the install, update or drain job
 *   drift DEST            print the config keys a job changed in DEST (names only, never values)
 *   ensure-token          register $MMS_API_TOKEN, the platform's Reporting API token, for the superuser
 *                         $MATOMO_ADMIN_USER (else the first superuser by login) unless Matomo has it
 *   apply-settings        run $MMS_SETTINGS_SQL, the operator's upsert of the tenant's settings into the
 *                         option table (spec.privacy: src/render/privacy.ts); refuses any other statement
 *
 * Nothing here prints a secret except db-env, whose output the entrypoint exports and never logs.
 */

declare(strict_types=1);

const MATOMO_DIR = '/var/www/html';
const CONFIG_DIR = MATOMO_DIR . '/config';
const LOCAL_CONFIG = CONFIG_DIR . '/config.ini.php';

require MATOMO_DIR . '/vendor/autoload.php';

use Matomo\Ini\IniReader;
use Matomo\Ini\IniWriter;

function fail(string $message): never
{
    fwrite(STDERR, "config-helper: $message\n");
    exit(1);
}

function readIni(string $file): array
{
    try {
        return (new IniReader())->readFile($file);
    } catch (Throwable $e) {
        fail('cannot read ' . basename($file) . ': ' . $e->getMessage());
    }
}

function mergeKeyByKey(array $base, array $over): array
{
    foreach ($over as $key => $value) {
        $base[$key] = is_array($value) && is_array($base[$key] ?? null) ? mergeKeyByKey($base[$key], $value) : $value;
    }
    return $base;
}

function decodeEntities(mixed $value): mixed
{
    if (is_array($value)) {
        return array_map('decodeEntities', $value);
    }
    return is_string($value) ? html_entity_decode($value, ENT_COMPAT, 'UTF-8') : $value;
}

/** The settings Matomo sees with $localFile as its config.ini.php. */
function configView(string $localFile): array
{
    $view = mergeKeyByKey(readIni(CONFIG_DIR . '/global.ini.php'), readIni(CONFIG_DIR . '/common.config.ini.php'));
    foreach (readIni($localFile) as $section => $values) {
        $view[$section] = is_array($values) ? array_merge($view[$section] ?? [], $values) : $values;
    }
    return decodeEntities($view);
}

function database(): array
{
    $db = configView(LOCAL_CONFIG)['database'] ?? null;
    if (!is_array($db) || empty($db['host']) || empty($db['dbname']) || empty($db['username'])) {
        fail('[database] host, dbname and username must be set in the mounted config');
    }
    if (!preg_match('/^[A-Za-z0-9_]*$/', (string) ($db['tables_prefix'] ?? ''))) {
        fail('[database] tables_prefix may only contain letters, digits and underscores');
    }
    return $db;
}

/** Connects as Matomo does, including its socket form (`port` = a path) and its TLS settings. */
function connect(array $db): PDO
{
    $port = (string) ($db['port'] ?? '3306');
    $dsn = str_starts_with($port, '/') ? "mysql:unix_socket=$port" : "mysql:host={$db['host']};port=$port";
    $dsn .= ";dbname={$db['dbname']}" . (empty($db['charset']) ? '' : ";charset={$db['charset']}");
    $options = [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 10];
    if (!empty($db['enable_ssl'])) {
        $tls = ['ssl_key' => PDO::MYSQL_ATTR_SSL_KEY, 'ssl_cert' => PDO::MYSQL_ATTR_SSL_CERT,
            'ssl_ca' => PDO::MYSQL_ATTR_SSL_CA, 'ssl_ca_path' => PDO::MYSQL_ATTR_SSL_CAPATH,
            'ssl_cipher' => PDO::MYSQL_ATTR_SSL_CIPHER];
        foreach ($tls as $key => $attribute) {
            if (!empty($db[$key])) {
                $options[$attribute] = (string) $db[$key];
            }
        }
        if (!empty($db['ssl_no_verify'])) {
            $options[PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT] = false;
        }
    }
    // A job may start before the database's Service or NetworkPolicy is ready; give it a few seconds.
    for ($attempt = 1; ; $attempt++) {
        try {
            return new PDO($dsn, (string) $db['username'], (string) ($db['password'] ?? ''), $options);
        } catch (PDOException $e) {
            if ($attempt === 5) {
                fail('cannot connect to the database: ' . $e->getMessage());
            }
            sleep(3);
        }
    }
}

function tableExists(PDO $pdo, string $table): bool
{
    $query = $pdo->prepare('SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?');
    $query->execute([$table]);
    return $query->fetchColumn() !== false;
}

function componentVersion(PDO $pdo, string $prefix, string $component): string|false
{
    $query = $pdo->prepare("SELECT option_value FROM `{$prefix}option` WHERE option_name = ?");
    $query->execute(['version_' . $component]);
    return $query->fetchColumn();
}

/**
 * absent: no Matomo schema (no option table or no version_core). incomplete: the schema exists but no
 * website does, i.e. an install stopped half-way, since Matomo refuses to delete a tenant's last website.
 * complete: both.
 */
function installState(PDO $pdo, string $prefix): string
{
    if (!tableExists($pdo, "{$prefix}option") || componentVersion($pdo, $prefix, 'core') === false) {
        return 'absent';
    }
    if (!tableExists($pdo, "{$prefix}site") || (int) $pdo->query("SELECT COUNT(*) FROM `{$prefix}site`")->fetchColumn() === 0) {
        return 'incomplete';
    }
    return 'complete';
}

function writeWorkConfig(string $mode, string $dest): void
{
    // Values are written back as read (still entity-encoded), just as Matomo rewrites its own config.
    $local = readIni(LOCAL_CONFIG);
    if ($mode === 'install') {
        // Begin from a fresh Matomo's list of installed plugins, so that the job installs (tables, option
        // rows) every plugin the mounted config activates; the rendered config lists them as installed
        // for every pod that runs afterwards, which therefore never needs to write the config.
        $global = readIni(CONFIG_DIR . '/global.ini.php');
        $local['PluginsInstalled'] = $global['PluginsInstalled'] ?? fail('global.ini.php has no [PluginsInstalled]');
        // matomo:install comes from ExtraTools; make sure Matomo loads its commands.
        $local['General']['always_load_commands_from_plugin'] = 'ExtraTools';
    } elseif ($mode === 'drain') {
        // The queue an upgrade fills is QueuedTracking's MySQL backend, in the tenant's own database;
        // the serving pods may be back to direct writes by the time it is worked off.
        $local['QueuedTracking'] = array_merge($local['QueuedTracking'] ?? [], ['backend' => 'mysql', 'queueEnabled' => '1', 'processDuringTrackingRequest' => '0']);
    } elseif ($mode !== 'update') {
        fail("unknown work-config mode: $mode");
    }
    try {
        (new IniWriter())->writeToFile($dest, $local, "; <?php exit; ?> DO NOT REMOVE THIS LINE\n");
    } catch (Throwable $e) {
        fail("cannot write $dest: " . $e->getMessage());
    }
    chmod($dest, 0600);
}

/** Keys whose value in the job's config differs from what the serving pods read; plugin lists itemised. */
function drift(string $workCopy): void
{
    // Set for the job's sake by this image (always_load_commands_from_plugin) or by ExtraTools.
    $jobOnly = ['General.always_load_commands_from_plugin', 'General.emails_enabled', 'General.installation_in_progress'];
    $serving = configView(LOCAL_CONFIG);
    foreach (configView($workCopy) as $section => $values) {
        foreach (is_array($values) ? $values : [] as $key => $value) {
            $name = "$section.$key";
            $before = $serving[$section][$key] ?? null;
            if (in_array($name, $jobOnly, true) || $before == $value) {
                continue;
            }
            if (in_array($section, ['Plugins', 'PluginsInstalled'], true) && is_array($value)) {
                $missing = array_diff($value, (array) $before);
                if ($missing) {
                    echo "$name lacks " . implode(', ', $missing) . "\n";
                }
                continue;
            }
            echo "$name\n";
        }
    }
}

/**
 * The platform's Reporting API token, stored the way Matomo 5 stores tokens (UsersManager\Model:
 * sha512 of the token followed by the salt, hash_algo "sha512") as a system token, which Matomo's UI does
 * not list, so nobody deletes it by mistake. Idempotent: a token Matomo already knows is left alone.
 */
function ensureToken(): void
{
    $token = (string) getenv('MMS_API_TOKEN');
    if (!preg_match('/^[0-9a-f]{32}$/', $token)) {
        fail('MMS_API_TOKEN must be 32 lower-case hex characters');
    }
    $view = configView(LOCAL_CONFIG);
    $salt = (string) ($view['General']['salt'] ?? '');
    if ($salt === '') {
        fail('[General] salt is not set in the mounted config');
    }
    $db = database();
    $prefix = (string) ($db['tables_prefix'] ?? '');
    $pdo = connect($db);
    if (installState($pdo, $prefix) === 'absent') {
        fail('Matomo is not installed in this database yet');
    }
    $hash = hash('sha512', $token . $salt);
    $known = $pdo->prepare("SELECT 1 FROM `{$prefix}user_token_auth` WHERE password = ?");
    $known->execute([$hash]);
    if ($known->fetchColumn() !== false) {
        return;
    }
    $wanted = (string) getenv('MATOMO_ADMIN_USER');
    $users = $pdo->query("SELECT login FROM `{$prefix}user` WHERE superuser_access = 1 ORDER BY login")->fetchAll(PDO::FETCH_COLUMN);
    $login = in_array($wanted, $users, true) ? $wanted : ($users[0] ?? fail('the database has no superuser to hold the platform token'));
    $columns = $pdo->query("SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '{$prefix}user_token_auth'")
        ->fetchAll(PDO::FETCH_COLUMN);
    $row = ['login' => $login, 'description' => 'Matomo MultiScale platform (health checks and reports)', 'password' => $hash,
        'date_created' => gmdate('Y-m-d H:i:s'), 'system_token' => 1, 'hash_algo' => 'sha512'];
    $row = array_filter($row, fn ($column) => in_array($column, $columns, true), ARRAY_FILTER_USE_KEY);
    $names = implode(', ', array_keys($row));
    $marks = implode(', ', array_fill(0, count($row), '?'));
    $pdo->prepare("INSERT INTO `{$prefix}user_token_auth` ($names) VALUES ($marks)")->execute(array_values($row));
    fwrite(STDERR, "config-helper: the platform's API token is registered for superuser $login\n");
}

$command = $argv[1] ?? '';
switch ($command) {
    case 'state':
        $db = database();
        echo installState(connect($db), (string) ($db['tables_prefix'] ?? '')), "\n";
        break;

    case 'verify':
        $db = database();
        $prefix = (string) ($db['tables_prefix'] ?? '');
        $pdo = connect($db);
        if (installState($pdo, $prefix) !== 'complete') {
            fail('not installed: the core schema or the first website is missing');
        }
        $missing = array_filter(array_slice($argv, 2), fn ($c) => componentVersion($pdo, $prefix, $c) === false);
        if ($missing !== []) {
            fail('plugins not installed: ' . implode(', ', $missing));
        }
        break;

    case 'db-env':
        $db = database();
        $names = ['MATOMO_DB_HOST' => 'host', 'MATOMO_DB_PORT' => 'port', 'MATOMO_DB_NAME' => 'dbname',
            'MATOMO_DB_USERNAME' => 'username', 'MATOMO_DB_PASSWORD' => 'password',
            'MATOMO_DB_PREFIX' => 'tables_prefix', 'MATOMO_DATABASE_ADAPTER' => 'adapter'];
        foreach ($names as $name => $key) {
            $value = (string) ($db[$key] ?? '');
            if (preg_match('/[\r\n\0]/', $value)) {
                fail("[database] $key contains a line break");
            }
            echo "$name=$value\n";
        }
        break;

    case 'apply-settings':
        $db = database();
        $prefix = (string) ($db['tables_prefix'] ?? '');
        $sql = (string) getenv('MMS_SETTINGS_SQL');
        // Only the statement the operator renders: one upsert into this tenant's option table.
        if (!str_starts_with($sql, "INSERT INTO `{$prefix}option` (option_name, option_value, autoload) VALUES ") || str_contains($sql, ';')) {
            fail('MMS_SETTINGS_SQL is not an upsert into the option table');
        }
        $pdo = connect($db);
        if (installState($pdo, $prefix) === 'absent') {
            fail('Matomo is not installed in this database yet');
        }
        $pdo->exec($sql);
        break;

    case 'ensure-token':
        ensureToken();
        break;

    case 'work-config':
        writeWorkConfig($argv[2] ?? '', $argv[3] ?? fail('work-config needs a destination'));
        break;

    case 'drift':
        drift($argv[2] ?? fail('drift needs the job config path'));
        break;

    default:
        fail('usage: config-helper.php state|verify COMPONENT...|db-env|ensure-token|apply-settings|work-config MODE DEST|drift DEST');
}

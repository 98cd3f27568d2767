<?php

/**
 * Matomo MultiScale. Matomo includes this file (when present) before it boots, from index.php,
 * matomo.php and the console; Matomo's file-integrity check expects and ignores it.
 *
 * The tenant's config.ini.php is mounted read-only, yet the install and update jobs run Matomo code
 * that saves config.ini.php. For those jobs only, the entrypoint names a private writable copy in
 * MMS_CONFIG_INI_PATH and this hands it to Matomo through its CONFIG_INI_PATH_RESOLVER hook.
 * Web and tracker requests never move the config: the override is honoured on the command line only.
 */
if (PHP_SAPI === 'cli') {
    $mmsConfigIniPath = getenv('MMS_CONFIG_INI_PATH');
    if (is_string($mmsConfigIniPath) && $mmsConfigIniPath !== '') {
        $GLOBALS['CONFIG_INI_PATH_RESOLVER'] = static function () use ($mmsConfigIniPath) {
            return $mmsConfigIniPath;
        };
    }
    unset($mmsConfigIniPath);
    // ExtraTools' own dependencies (symfony/process, symfony/yaml), which Matomo's autoloader does not know:
    // present when its plugin archive carries its vendor/ folder. The platform uses none of the commands
    // that need them (matomo:install --do-not-drop-db and site:add do not), so without it nothing breaks.
    if (is_file(__DIR__ . '/plugins/ExtraTools/vendor/autoload.php')) {
        require_once __DIR__ . '/plugins/ExtraTools/vendor/autoload.php';
    }
}

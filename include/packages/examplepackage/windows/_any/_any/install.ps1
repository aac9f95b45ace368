# Distributor runs this from the folder it unpacked the zip into.
$ErrorActionPreference = 'Stop'
Set-Location -Path $PSScriptRoot
# /norestart: a reboot is Distributor's decision (exit code 3010), not the installer's.
$process = Start-Process msiexec.exe -ArgumentList '/i','examplepackage.msi','/quiet','/norestart' -Wait -PassThru
exit $process.ExitCode

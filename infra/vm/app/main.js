// Entry point of the VM's systemd unit (infra/vm/startup.sh: ExecStart=… /opt/mtls-backend/app/main.js).
// scripts/34-gcp-install-backend.ts copies this file and package.json ("type": "module") next to
// the backend that `tsc -p backend/tsconfig.build.json` compiled into app/.
import './backend/main.js';

// Grafana provisioning: the Prometheus datasource (compose service "prometheus") and a file provider
// for the generated dashboards, mounted at DASHBOARDS_MOUNT by docker-compose.yml.
export const DASHBOARDS_MOUNT = "/etc/grafana/dashboards";

export const datasourceProvisioning = {
  apiVersion: 1,
  datasources: [
    {
      name: "Prometheus",
      type: "prometheus",
      uid: "prometheus",
      access: "proxy",
      url: "http://prometheus:9090",
      isDefault: true,
      editable: false,
      jsonData: { timeInterval: "15s" },
    },
  ],
};

export const dashboardProvisioning = {
  apiVersion: 1,
  providers: [
    {
      name: "tts-performance-monitor",
      folder: "TTS",
      type: "file",
      disableDeletion: true,
      allowUiUpdates: false,
      updateIntervalSeconds: 60,
      options: { path: DASHBOARDS_MOUNT, foldersFromFilesStructure: false },
    },
  ],
};

import { RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import type { Thresholds } from "../../config/schema.ts";
import { dashboard, query, RATE, sel, timeseries } from "./common.ts";
import { DASHBOARDS } from "./refs.ts";

/** Where TTS runs: GPUs, host CPU, memory, swap, disks, and the TTS processes. */
export function hostGpuDashboard(t: Thresholds) {
  const memory = { value: t.memory_usage_max / 100, bad: "above" } as const;
  const gpu = "GPU {{gpu}} {{name}}";
  return dashboard(DASHBOARDS.hostGpu, "TTS / Host and GPU", false)
    .withRow(new RowBuilder("GPU"))
    .withPanel(
      timeseries({
        title: "GPU utilisation",
        unit: "percent",
        min: 0,
        max: 100,
        queries: [
          query(sel("tts_gpu_usage_percent"), `${gpu} compute`),
          query(sel("tts_gpu_memory_utilization_percent"), `${gpu} memory controller`, "B"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "GPU temperature",
        description: `Alert above ${t.gpu_temp_max} °C.`,
        unit: "celsius",
        queries: [query(sel("tts_gpu_temperature_celsius"), gpu)],
        threshold: { value: t.gpu_temp_max, bad: "above" },
      }),
    )
    .withPanel(
      timeseries({
        title: "VRAM usage",
        description: `Alert above ${t.memory_usage_max} %.`,
        unit: "percentunit",
        min: 0,
        max: 1,
        queries: [query(sel("tts_gpu_memory_usage_ratio"), gpu)],
        threshold: memory,
      }),
    )
    .withPanel(
      timeseries({
        title: "VRAM used and total",
        unit: "bytes",
        queries: [
          query(sel("tts_gpu_memory_used_bytes"), `${gpu} used`),
          query(sel("tts_gpu_memory_total_bytes"), `${gpu} total`, "B"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "GPU power",
        unit: "watt",
        queries: [
          query(sel("tts_gpu_power_draw_watts"), `${gpu} draw`),
          query(sel("tts_gpu_power_limit_watts"), `${gpu} limit`, "B"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "GPU fan speed",
        unit: "percent",
        queries: [query(sel("tts_gpu_fan_speed_percent"), `${gpu} fan`)],
      }),
    )
    .withRow(new RowBuilder("Host"))
    .withPanel(
      timeseries({
        title: "CPU usage",
        unit: "percentunit",
        min: 0,
        max: 1,
        queries: [query(sel("tts_host_cpu_usage_ratio"), "{{instance}}")],
      }),
    )
    .withPanel(
      timeseries({
        title: "Load average",
        unit: "short",
        queries: [
          query(sel("tts_host_load1"), "load1"),
          query(sel("tts_host_load5"), "load5", "B"),
          query(sel("tts_host_load15"), "load15", "C"),
          query(sel("tts_host_cpu_cores"), "cores", "D"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "RAM usage",
        description: `Alert above ${t.memory_usage_max} %.`,
        unit: "percentunit",
        min: 0,
        max: 1,
        queries: [query(sel("tts_host_memory_usage_ratio"), "{{instance}}")],
        threshold: memory,
      }),
    )
    .withPanel(
      timeseries({
        title: "RAM and swap used",
        unit: "bytes",
        queries: [
          query(sel("tts_host_memory_used_bytes"), "RAM used"),
          query(sel("tts_host_memory_total_bytes"), "RAM total", "B"),
          query(sel("tts_host_swap_used_bytes"), "swap used", "C"),
          query(sel("tts_host_swap_total_bytes"), "swap total", "D"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Swap usage",
        unit: "percentunit",
        min: 0,
        max: 1,
        queries: [query(sel("tts_host_swap_usage_ratio"), "{{instance}}")],
      }),
    )
    .withPanel(
      timeseries({
        title: "Disk read and write",
        unit: "Bps",
        queries: [
          query(`rate(${sel("tts_host_disk_read_bytes_total")}[${RATE}])`, "{{device}} read"),
          query(`rate(${sel("tts_host_disk_written_bytes_total")}[${RATE}])`, "{{device}} write", "B"),
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Filesystem free",
        unit: "percentunit",
        min: 0,
        max: 1,
        queries: [
          query(
            `${sel("tts_host_filesystem_free_bytes")} / ${sel("tts_host_filesystem_size_bytes")}`,
            "{{mountpoint}}",
          ),
        ],
      }),
    )
    .withRow(new RowBuilder("TTS processes"))
    .withPanel(
      timeseries({
        title: "Threads",
        unit: "short",
        queries: [query(sel("tts_process_threads"), "{{process}}")],
      }),
    )
    .withPanel(
      timeseries({
        title: "Process CPU",
        unit: "percentunit",
        queries: [query(`rate(${sel("tts_process_cpu_seconds_total")}[${RATE}])`, "{{process}}")],
      }),
    )
    .withPanel(
      timeseries({
        title: "Process resident memory",
        unit: "bytes",
        queries: [
          query(sel("tts_process_resident_memory_bytes"), "{{process}}"),
          query(sel("tts_process_instances"), "{{process}} instances", "B"),
        ],
      }),
    )
    .withRow(new RowBuilder("Exporter"))
    .withPanel(
      timeseries({
        title: "Collector success",
        unit: "bool_yes_no",
        queries: [query(sel("tts_exporter_collector_success"), "{{collector}}")],
      }),
    )
    .withPanel(
      timeseries({
        title: "Collector duration and event loop lag",
        unit: "s",
        queries: [
          query(sel("tts_exporter_collector_duration_seconds"), "{{collector}}"),
          query(sel("tts_exporter_event_loop_lag_seconds"), "event loop lag", "B"),
        ],
      }),
    );
}

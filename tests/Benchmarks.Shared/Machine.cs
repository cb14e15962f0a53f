using System.Globalization;

namespace Distill.Benchmarks.Shared;

/// <summary>What Linux says about this process and the machine.</summary>
internal static class Machine
{
    /// <summary>Peak (VmHWM) and current (VmRSS) resident memory of this process in KiB; -1 where unreadable.</summary>
    public static (long PeakKib, long CurrentKib) Memory()
    {
        long peak = -1, current = -1;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = Kib(line);
                else if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) current = Kib(line);
            }
        }
        catch (IOException)
        {
            // Not Linux: the memory rows read -1.
        }
        return (peak, current);

        static long Kib(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    /// <summary>CPU seconds this process has used so far, all threads (user + system).</summary>
    public static double CpuSeconds()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        return self.TotalProcessorTime.TotalSeconds;
    }

    /// <summary>The 1, 5 and 15-minute load averages (what <c>uptime</c> prints).</summary>
    public static string LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"{parts[0]} {parts[1]} {parts[2]}";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}

using System.Globalization;

namespace Distill.Torch;

public static partial class torch
{
    /// <summary>PyTorch's <c>torch.distributed</c>: joining a process group the way its launcher describes it.</summary>
    public static class distributed
    {
        /// <summary>The rendezvous PyTorch's launcher (torchrun) describes with environment variables.</summary>
        /// <param name="Rank">RANK: this process among all of them.</param>
        /// <param name="WorldSize">WORLD_SIZE: the number of processes.</param>
        /// <param name="LocalRank">LOCAL_RANK: this process among those on its machine (its GPU index).</param>
        /// <param name="MasterAddress">MASTER_ADDR: where rank 0 hosts the store.</param>
        /// <param name="MasterPort">MASTER_PORT.</param>
        public sealed record Environment(int Rank, int WorldSize, int LocalRank, string MasterAddress, int MasterPort)
        {
            /// <summary>
            /// The rendezvous in <paramref name="variables"/> (the process's environment when null), or null when
            /// WORLD_SIZE is not set: a single process. Missing or malformed variables are an error naming them.
            /// </summary>
            public static Environment? Read(Func<string, string?>? variables = null)
            {
                variables ??= System.Environment.GetEnvironmentVariable;
                var world = variables("WORLD_SIZE");
                if (string.IsNullOrWhiteSpace(world)) return null;
                var problems = new List<string>();
                int Int(string name, string? text, int min, int max)
                {
                    if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max) return value;
                    problems.Add(text is null ? $"{name} is not set" : $"{name}={text} is not an integer in {min}..{max}");
                    return min;
                }
                var size = Int("WORLD_SIZE", world, 1, 1 << 20);
                var rank = Int("RANK", variables("RANK"), 0, Math.Max(size - 1, 0));
                var local = variables("LOCAL_RANK") is { } l ? Int("LOCAL_RANK", l, 0, 1 << 20) : rank;
                var address = variables("MASTER_ADDR");
                if (size > 1 && string.IsNullOrWhiteSpace(address)) problems.Add("MASTER_ADDR is not set");
                var port = size > 1 ? Int("MASTER_PORT", variables("MASTER_PORT"), 1, 65535) : 0;
                if (problems.Count > 0)
                    throw new ArgumentException("the distributed environment is incomplete: " + string.Join("; ", problems) +
                                                " (set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as PyTorch's launcher does)");
                return new Environment(rank, size, local, address ?? "127.0.0.1", port);
            }
        }

        /// <summary>
        /// Joins the process group <paramref name="environment"/> describes (rank 0 hosts a TCP store at MASTER_ADDR:MASTER_PORT;
        /// Gloo carries the collectives); every collective waits at most <paramref name="timeout"/>.
        /// </summary>
        public static ProcessGroup init_process_group(Environment environment, TimeSpan timeout)
        {
            ArgumentNullException.ThrowIfNull(environment);
            return ProcessGroup.Create(environment.MasterAddress, environment.MasterPort, environment.Rank, environment.WorldSize, timeout);
        }
    }
}

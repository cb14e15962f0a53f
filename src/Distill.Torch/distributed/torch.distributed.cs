using System.Globalization;

namespace Distill.Torch;

public static partial class torch
{
    /// <summary>PyTorch's <c>torch.distributed</c>: joining a process group the way its launcher describes it.</summary>
    public static class distributed
    {
        /// <summary>What carries a process group's collectives (PyTorch's <c>torch.distributed.Backend</c>).</summary>
        public enum Backend
        {
            /// <summary>Gloo: CPU training (and CUDA tensors, slowly), over TCP.</summary>
            Gloo,

            /// <summary>NCCL: CUDA training, one GPU per rank.</summary>
            Nccl,
        }

        /// <summary>The backend's name as PyTorch spells it ("gloo", "nccl").</summary>
        public static string BackendName(Backend backend) => backend switch
        {
            Backend.Gloo => "gloo",
            Backend.Nccl => "nccl",
            _ => throw new ArgumentOutOfRangeException(nameof(backend), backend, "expected Gloo or Nccl"),
        };

        /// <summary>The backend named <paramref name="name"/> ("gloo" or "nccl", any case), or null.</summary>
        public static Backend? ParseBackend(string name) => name.Trim().ToLowerInvariant() switch
        {
            "gloo" => Backend.Gloo,
            "nccl" => Backend.Nccl,
            _ => null,
        };

        /// <summary>A TCP port free on loopback now, for a local rendezvous (MASTER_PORT of ranks started on this machine).</summary>
        public static int free_loopback_port()
        {
            using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }

        /// <summary>Whether this build of the shim can create Gloo process groups (it found Gloo's headers when built).</summary>
        public static bool is_gloo_available() => Built(Backend.Gloo);

        /// <summary>Whether this build of the shim can create NCCL process groups (it was built against a CUDA libtorch with NCCL).</summary>
        public static bool is_nccl_available() => Built(Backend.Nccl);

        private static bool Built(Backend backend)
        {
            Native.NativeMethods.Check(Native.NativeMethods.dst_pg_backend_built(BackendName(backend), out var built));
            return built != 0;
        }

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
        /// Joins the process group <paramref name="environment"/> describes (rank 0 hosts a TCP store at MASTER_ADDR:MASTER_PORT);
        /// every collective waits at most <paramref name="timeout"/>. Under NCCL the rank's GPU is <paramref name="device"/>,
        /// by default cuda:LOCAL_RANK.
        /// </summary>
        public static ProcessGroup init_process_group(Environment environment, TimeSpan timeout, Backend backend = Backend.Gloo, Device? device = null)
        {
            ArgumentNullException.ThrowIfNull(environment);
            if (backend == Backend.Nccl) device ??= new Device(DeviceType.CUDA, environment.LocalRank);
            return ProcessGroup.Create(environment.MasterAddress, environment.MasterPort, environment.Rank, environment.WorldSize, timeout, backend, device);
        }
    }
}

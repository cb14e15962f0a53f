using System.Globalization;
using System.Text;

namespace Distill.Experiments.Runner;

/// <summary>A mistake on the command line or in an input file the user wrote: the runner prints the message and exits with 2.</summary>
public sealed class UsageException(string message, string? command = null) : Exception(message)
{
    /// <summary>The command whose usage the message is about (its <c>--help</c> is suggested), or null.</summary>
    public string? Command { get; } = command;
}

/// <summary>One option of a command.</summary>
/// <param name="Name">The long name, with its dashes ("--epochs").</param>
/// <param name="Value">What the value looks like in the help ("N"); null for a flag.</param>
/// <param name="ValueOptional">The value may be left out (<c>--resume</c> alone means "latest").</param>
/// <param name="Repeatable">The option may be given more than once (<c>--set a=1 --set b=2</c>); <see cref="ParsedArguments.All"/> reads every value.</param>
public sealed record OptionSpec(string Name, string? Value, string Help, bool ValueOptional = false, bool Repeatable = false)
{
    public bool IsFlag => Value is null;

    public string Usage => Value is null ? Name : ValueOptional ? $"{Name} [{Value}]" : $"{Name} {Value}";
}

/// <summary>A command: its positional arguments and options, and the text of its <c>--help</c>.</summary>
public sealed record CommandSpec(
    string Name,
    string Positionals,
    int MinPositionals,
    int MaxPositionals,
    string Brief,
    string Summary,
    IReadOnlyList<OptionSpec> Options,
    string? Details = null)
{
    public OptionSpec? Option(string name) => Options.FirstOrDefault(o => o.Name == name);

    public string Synopsis => $"{CommandLine.Program} {Name}{(Positionals.Length > 0 ? " " + Positionals : "")}{(Options.Count > 0 ? " [options]" : "")}";

    public string Help()
    {
        var sb = new StringBuilder();
        sb.Append("usage: ").AppendLine(Synopsis).AppendLine().AppendLine(Summary);
        if (Options.Count > 0)
        {
            sb.AppendLine().AppendLine("options:");
            var width = Options.Max(o => o.Usage.Length) + 2;
            foreach (var o in Options) sb.Append("  ").Append(o.Usage.PadRight(width)).AppendLine(o.Help.Replace("\n", "\n  " + new string(' ', width)));
            sb.Append("  ").Append("--help".PadRight(width)).AppendLine("show this help");
        }
        if (Details is not null) sb.AppendLine().AppendLine(Details);
        return sb.ToString();
    }
}

/// <summary>What <see cref="CommandLine.Parse"/> read: the command (null for the general help), its positionals and options.</summary>
public sealed class ParsedArguments
{
    private readonly Dictionary<string, string?> _options;
    private readonly Dictionary<string, List<string>> _repeated;

    internal ParsedArguments(CommandSpec? command, IReadOnlyList<string> positionals, Dictionary<string, string?> options, bool help,
        Dictionary<string, List<string>>? repeated = null)
    {
        Command = command;
        Positionals = positionals;
        _options = options;
        HelpRequested = help;
        _repeated = repeated ?? new Dictionary<string, List<string>>(StringComparer.Ordinal);
    }

    /// <summary>Every value of a repeatable option, in command-line order (empty when it is absent).</summary>
    public IReadOnlyList<string> All(string option) => _repeated.TryGetValue(option, out var values) ? values : [];

    public CommandSpec? Command { get; }

    public IReadOnlyList<string> Positionals { get; }

    public bool HelpRequested { get; }

    private string CommandName => Command?.Name ?? "";

    public bool Has(string option) => _options.ContainsKey(option);

    /// <summary>
    /// The options as command-line tokens again (repeatable ones once per value), leaving out <paramref name="except"/>:
    /// what a launcher passes on to the processes it starts.
    /// </summary>
    public List<string> OptionTokens(params string[] except)
    {
        var tokens = new List<string>();
        foreach (var (name, value) in _options)
        {
            if (except.Contains(name) || _repeated.ContainsKey(name)) continue;
            tokens.Add(name);
            if (value is not null) tokens.Add(value);
        }
        foreach (var (name, values) in _repeated)
            if (!except.Contains(name))
                foreach (var value in values) tokens.AddRange([name, value]);
        return tokens;
    }

    /// <summary>The option's text; null when absent (or, for an optional value, given without one).</summary>
    public string? String(string option) => _options.TryGetValue(option, out var v) ? v : null;

    public int? Int(string option, int min)
    {
        if (String(option) is not { } text) return null;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min)
            throw new UsageException($"{option} expects a whole number of at least {min.ToString(CultureInfo.InvariantCulture)}, got '{text}'", CommandName);
        return value;
    }

    public long? Long(string option)
    {
        if (String(option) is not { } text) return null;
        return ParseLong(option, text);
    }

    public double? PositiveDouble(string option)
    {
        if (String(option) is not { } text) return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || !double.IsFinite(value))
            throw new UsageException($"{option} expects a positive number (e.g. 0.05 or 5e-2), got '{text}'", CommandName);
        return value;
    }

    /// <summary>A comma-separated list of whole numbers ("1,2,3"); duplicates are an error.</summary>
    public IReadOnlyList<long>? LongList(string option)
    {
        if (String(option) is not { } text) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Any(p => p.Length == 0))
            throw new UsageException($"{option} expects a comma-separated list of whole numbers (e.g. 1,2,3), got '{text}'", CommandName);
        var values = parts.Select(p => ParseLong(option, p)).ToList();
        var duplicate = values.GroupBy(v => v).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new UsageException($"{option} lists {duplicate.Key.ToString(CultureInfo.InvariantCulture)} twice", CommandName);
        return values;
    }

    /// <summary>One of <paramref name="allowed"/> (case-insensitive), returned in lower case.</summary>
    public string? Choice(string option, params string[] allowed)
    {
        if (String(option) is not { } text) return null;
        var lower = text.Trim().ToLowerInvariant();
        if (!allowed.Contains(lower))
            throw new UsageException($"{option} expects one of {string.Join(", ", allowed)}, got '{text}'", CommandName);
        return lower;
    }

    private long ParseLong(string option, string text) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new UsageException($"{option} expects a whole number, got '{text}'", CommandName);
}

/// <summary>
/// The runner's command line, hand-rolled: <c>&lt;command&gt; [positionals] [--option value | --option=value | --flag]</c>,
/// <c>--</c> ends the options. Every mistake is a <see cref="UsageException"/> that names the bad
/// token and lists what is valid.
/// </summary>
public static class CommandLine
{
    public const string Program = "distill-experiments";

    private static readonly OptionSpec Device = new("--device", "cpu|cuda|cuda:N|auto", "where to train (default auto: CUDA when libtorch sees a GPU)");
    private static readonly OptionSpec Out = new("--out", "DIR", "root of the run directories (default runs, or runs-quick with --quick)");
    private static readonly OptionSpec Quick = new("--quick", null, "a smoke run: few epochs of a few batches (kept apart under runs-quick by default)");
    private static readonly OptionSpec Seeds = new("--seeds", "S1,S2,...", "run once per seed");
    private static readonly OptionSpec Progress = new("--progress", "auto|rich|plain|none", "how training progress is shown (default auto)");

    public static readonly CommandSpec List = new("list", "", 0, 0, "list the registered experiments",
        "Lists every registered experiment: its paper, models (teachers → student), loss terms and the experiments it depends on.",
        []);

    public static readonly CommandSpec Describe = new("describe", "<experiment>", 1, 1, "show an experiment's models, loss terms and configuration",
        "Shows an experiment's loss graph: the models (type, arguments, where the weights come from), each term as\n" +
        "weight · loss(arguments) with its schedule, and the resolved configuration.",
        []);

    public static readonly CommandSpec Check = new("check", "[<experiment>...]", 0, int.MaxValue, "dry-run one batch of each experiment",
        "Runs one training batch and one evaluation batch of each experiment (all when none is named), in a\n" +
        "temporary directory, to catch the run-time shape errors the compiler cannot see. A teacher whose\n" +
        "weights do not exist yet runs with its initial weights. An experiment whose data file or directory\n" +
        "does not exist (e.g. CIFAR-100 not on this machine) is skipped and says so. Exits with 1 when any\n" +
        "experiment fails.",
        [Device]);

    public static readonly CommandSpec Run = new("run", "<experiment>", 1, 1, "train an experiment (and the teachers it needs)",
        "Trains an experiment. Teachers it takes from other experiments (from: <experiment>) that have no\n" +
        "finished run under --out are trained first (their declared epochs, the first seed, the same\n" +
        "--quick/--device/--out); finished ones are reused.",
        [
            new("--epochs", "N", "epochs to train (default: the experiment's)"),
            new("--seed", "S", "the run's seed (default: the experiment's first declared seed, else 0)"),
            Seeds,
            Device,
            Out,
            new("--resume", "PATH|latest", "continue a run: the latest one (of --run-name, if given) or the checkpoint/run at PATH", ValueOptional: true),
            Quick,
            new("--run-name", "NAME", "the run directory's name (default: the UTC start time; with --seeds, NAME-s<seed>)"),
            new("--batch-size", "N", "override the batch size"),
            new("--lr", "X", "override the base learning rate"),
            new("--max-batches", "N", "cap the batches per epoch"),
            new("--threads", "N", "libtorch intra-op threads (default: the core count; with --nproc, per process: the cores shared out)"),
            new("--no-sync-batchnorm", null, "with --nproc (or as a rank): each rank's batch norms use its own share's statistics (plain DDP) instead of the global batch's"),
            new("--dist-timeout", "SECONDS", "with --nproc (or as a rank): the longest a rank waits for the others at the rendezvous or in one collective (default 1800)"),
            new("--dist-backend", "NAME", "with --nproc (or as a rank): gloo or nccl carries the collectives (default: nccl on GPUs when the shim\n" +
                "was built with it, else gloo)"),
            new("--memory-format", "FORMAT", "contiguous or channels_last: the layout of the models' 4-D weights and the images (default: the experiment's)"),
            new("--precision", "P", "fp32, bf16 (autocast) or fp16 (autocast with loss scaling; CUDA only) for the forward pass and loss (default: the experiment's)"),
            new("--nproc", "N", "data-parallel training in N local processes joined by c10d over loopback (one GPU each with --device cuda); the batch is the global\n" +
                "one, split over them; rank 0 logs and checkpoints. Started with PyTorch's launcher variables (RANK, WORLD_SIZE,\n" +
                "MASTER_ADDR, MASTER_PORT) instead, a run joins that job as one of its ranks"),
            new("--set", "KEY=VALUE", "override a declared value, as the experiment file spells its key (losses.kd.weight=0.5,\n" +
                "optimizer.sgd.momentum=0.95, schedule.multistep.milestones=[30,40]); repeatable; describe lists the keys", Repeatable: true),
            Progress,
        ]);

    public static readonly CommandSpec Report = new("report", "<suite>", 1, 1, "run a suite's entries × seeds and write its report",
        "Runs every entry × seed of a suite (experiments/<suite>/suite.yaml) that has no finished run under --out\n" +
        "with that seed and the same quick-ness, then writes report.md, curves.svg and results.json to\n" +
        "experiments/<suite>/report/ (report-quick/ with --quick). <suite> may also be a directory or a suite file.",
        [
            Quick,
            new("--seeds", "S1,S2,...", "the seeds (default: the suite's)"),
            Out,
            new("--collect", null, "run nothing: report the finished runs there are"),
            Device,
            Progress,
        ]);

    public static readonly CommandSpec Export = new("export", "<experiment>", 1, 1, "write a finished run's trained model as a safetensors state dict",
        "Writes the model a finished run of <experiment> trained (its best checkpoint, else its latest) as a plain\n" +
        "safetensors state dict with PyTorch's names: what a teacher's `checkpoint:` loads, and what PyTorch's\n" +
        "safetensors.torch.load_file reads. The run is the one a student would take as its teacher (the newest\n" +
        "finished run under --out that trained the experiment as declared), or the one --run names.",
        [
            new("--to", "FILE", "the .safetensors file to write (required)"),
            Out,
            new("--run", "NAME|PATH", "a run directory's name under --out/<experiment>/, or a run directory, checkpoint or pointer"),
        ]);

    public static readonly CommandSpec Env = new("env", "", 0, 0, "show what this build of the engine can do, and check it",
        "Shows libtorch's version, the shim file loaded (DISTILL_TORCH_NATIVE chooses a CUDA build), the threads, the\n" +
        "GPUs libtorch sees and the process-group backends built in (gloo, nccl). With --check, exercises each part\n" +
        "that exists: arithmetic on every device, autocast, and a process group on each backend (NCCL on two ranks\n" +
        "when two GPUs are visible). Exits with 1 when a check fails.",
        [new("--check", null, "run the checks")]);

    public static readonly IReadOnlyList<CommandSpec> Commands = [List, Describe, Check, Run, Report, Export, Env];

    public static string GeneralHelp()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"usage: {Program} <command> [arguments] [options]").AppendLine();
        sb.AppendLine("Lists, checks, trains and reports the experiments compiled into this program.").AppendLine();
        sb.AppendLine("commands:");
        var width = Commands.Max(c => c.Name.Length) + 2;
        foreach (var c in Commands) sb.Append("  ").Append(c.Name.PadRight(width)).AppendLine(c.Brief);
        sb.AppendLine().AppendLine($"Run '{Program} <command> --help' for a command's arguments and options.");
        return sb.ToString();
    }

    /// <summary>Parses <paramref name="args"/>; a <see cref="UsageException"/> for anything it cannot accept.</summary>
    public static ParsedArguments Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Count == 0 || args[0] is "--help" or "-h" or "help" && args.Count == 1)
            return new ParsedArguments(null, [], new Dictionary<string, string?>(), help: true);
        if (args[0] is "help" or "--help" or "-h")
            return new ParsedArguments(FindCommand(args[1]), [], new Dictionary<string, string?>(), help: true);
        if (args[0].StartsWith('-'))
            throw new UsageException($"expected a command before '{args[0]}'; commands: {string.Join(", ", Commands.Select(c => c.Name))}");

        var command = FindCommand(args[0]);
        var positionals = new List<string>();
        var options = new Dictionary<string, string?>(StringComparer.Ordinal);
        var repeated = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var help = false;
        var optionsEnded = false;
        for (var i = 1; i < args.Count; i++)
        {
            var token = args[i];
            if (optionsEnded || !token.StartsWith('-') || token == "-")
            {
                positionals.Add(token);
                continue;
            }
            if (token == "--")
            {
                optionsEnded = true;
                continue;
            }
            if (token is "--help" or "-h")
            {
                help = true;
                continue;
            }
            var eq = token.IndexOf('=');
            var name = eq >= 0 ? token[..eq] : token;
            var spec = command.Option(name) ?? throw UnknownOption(command, name);
            if (options.ContainsKey(name) && !spec.Repeatable)
                throw new UsageException($"{name} is given twice", command.Name);
            string? value;
            if (spec.IsFlag)
            {
                if (eq >= 0) throw new UsageException($"{name} is a switch and takes no value (got '{token[(eq + 1)..]}')", command.Name);
                value = null;
            }
            else if (eq >= 0)
            {
                value = token[(eq + 1)..];
                if (value.Length == 0) throw new UsageException($"{name} needs a value ({spec.Value})", command.Name);
            }
            else if (spec.ValueOptional)
            {
                // The next token is the value unless it is an option, or a positional the command still needs
                // ("run --resume teacher" names the experiment; "run teacher --resume runs/x" a checkpoint).
                var next = i + 1 < args.Count ? args[i + 1] : null;
                var takesIt = next is not null && !next.StartsWith('-')
                    && (positionals.Count >= command.MinPositionals || IsResumeKeyword(next));
                value = takesIt ? next : null;
                if (takesIt) i++;
            }
            else
            {
                if (i + 1 >= args.Count || (args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
                    throw new UsageException($"{name} needs a value ({spec.Value})", command.Name);
                value = args[++i];
            }
            options[name] = value;
            if (spec.Repeatable && value is not null)
            {
                if (!repeated.TryGetValue(name, out var values)) repeated[name] = values = [];
                values.Add(value);
            }
        }

        if (!help)
        {
            if (positionals.Count < command.MinPositionals)
                throw new UsageException($"{command.Name} needs {command.Positionals}: {command.Synopsis}", command.Name);
            if (positionals.Count > command.MaxPositionals)
                throw new UsageException(command.MaxPositionals == 0
                    ? $"{command.Name} takes no arguments; unexpected '{positionals[0]}'"
                    : $"{command.Name} takes {command.Positionals} only; unexpected '{positionals[command.MaxPositionals]}'", command.Name);
        }
        return new ParsedArguments(command, positionals, options, help, repeated);
    }

    private static bool IsResumeKeyword(string text) =>
        text.Trim().ToLowerInvariant() is "latest" or "true" or "yes" or "false" or "no" or "none";

    private static CommandSpec FindCommand(string name)
    {
        var command = Commands.FirstOrDefault(c => c.Name == name);
        if (command is not null) return command;
        var names = Commands.Select(c => c.Name).ToList();
        var suggestion = Suggestions.DidYouMean(name, names);
        throw new UsageException($"unknown command '{name}'.{suggestion} Commands: {string.Join(", ", names)}");
    }

    private static UsageException UnknownOption(CommandSpec command, string name)
    {
        var valid = command.Options.Select(o => o.Name).Append("--help").ToList();
        var suggestion = Suggestions.DidYouMean(name, valid);
        return new UsageException($"{command.Name}: unknown option '{name}'.{suggestion} Valid options: {string.Join(", ", valid)}", command.Name);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using Distill.Data;

namespace Distill.Experiments.Runner;

/// <summary>Where a command runs: the experiments it knows, where it writes, and the command line as typed.</summary>
public sealed class RunnerContext
{
    public required ExperimentCatalog Catalog { get; init; }

    public required TextWriter Out { get; init; }

    public required TextWriter Error { get; init; }

    /// <summary>Relative paths (--out, --resume, a suite) are taken from here.</summary>
    public string WorkingDirectory { get; init; } = Environment.CurrentDirectory;

    /// <summary>The command line as typed, for run records and reports: "distill-experiments report cifar-kd --quick".</summary>
    public required string CommandText { get; init; }

    public DateTimeOffset Now() => DateTimeOffset.UtcNow;
}

/// <summary>The runner's entry point: parses, dispatches, and turns errors into messages and exit codes.</summary>
public static class Cli
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;

    /// <summary>Runs one command line; returns the exit code (0 ok, 1 a run failed, 2 a usage error).</summary>
    public static int Run(IReadOnlyList<string> args, IEnumerable<ExperimentInfo> experiments, TextWriter output, TextWriter error, string? workingDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Count == 0)
        {
            error.Write(CommandLine.GeneralHelp());
            return Usage;
        }
        try
        {
            var parsed = CommandLine.Parse(args);
            if (parsed.HelpRequested)
            {
                output.Write(parsed.Command?.Help() ?? CommandLine.GeneralHelp());
                return Ok;
            }
            var context = new RunnerContext
            {
                Catalog = new ExperimentCatalog(experiments),
                Out = output,
                Error = error,
                WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
                CommandText = CommandText(args),
            };
            return parsed.Command!.Name switch
            {
                "list" => Commands.List(context),
                "describe" => Commands.Describe(context, parsed),
                "check" => Commands.Check(context, parsed),
                "run" => Commands.Run(context, parsed),
                "report" => Commands.Report(context, parsed),
                "export" => Commands.Export(context, parsed),
                "env" => EngineCommand.Run(context, parsed),
                var other => throw new UsageException($"unknown command '{other}'"),
            };
        }
        catch (UsageException e)
        {
            error.WriteLine($"error: {e.Message}");
            error.WriteLine(e.Command is { } c ? $"(see '{CommandLine.Program} {c} --help')" : $"(see '{CommandLine.Program} --help')");
            return Usage;
        }
        catch (SuiteFileException e)
        {
            error.WriteLine($"error: {e.Message}");
            return Usage;
        }
        catch (Exception e) when (e is DistillRuntimeException or TorchException or ArgumentException or IOException or UnauthorizedAccessException or DatasetException)
        {
            // CheckpointException and RunDirectoryException are DistillRuntimeExceptions: their messages name the file.
            error.WriteLine($"error: {e.Message}");
            return Failed;
        }
        catch (Exception e)
        {
            // Not a mistake of the user's: a bug somewhere, so the stack trace is worth having.
            error.WriteLine($"error: unexpected {e.GetType().FullName}: {e.Message}");
            error.WriteLine(e.ToString());
            return Failed;
        }
        finally
        {
            output.Flush();
            error.Flush();
        }
    }

    /// <summary>The command line as a shell would take it back.</summary>
    public static string CommandText(IReadOnlyList<string> args) =>
        string.Join(" ", args.Select(Quote).Prepend(CommandLine.Program));

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsLetterOrDigit(c) || "-_.,/:=+@%".Contains(c)) ? arg : "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>The runner's commands.</summary>
public static class Commands
{
    // ---- list ------------------------------------------------------------------------------------------------

    public static int List(RunnerContext context)
    {
        var o = context.Out;
        var all = context.Catalog.All;
        if (all.Count == 0)
        {
            o.WriteLine("no experiments are registered (add experiments/<suite>/*.distill.yaml or an [Experiment] class to the experiments project)");
            return Cli.Ok;
        }
        foreach (var info in all)
        {
            o.WriteLine(info.Paper is { } paper ? $"{info.Name}  ({paper})" : info.Name);
            o.WriteLine($"    models:     {ExperimentText.ModelChain(info)}");
            o.WriteLine($"    terms:      {(info.LossTerms.Count == 0 ? "(none)" : string.Join(", ", info.LossTerms.Select(t => $"{t.Name} = {ExperimentText.Number(t.Weight)}·{t.Loss}")))}");
            if (info.DependsOn.Count > 0) o.WriteLine($"    depends on: {string.Join(", ", info.DependsOn)}");
        }
        o.WriteLine($"{all.Count.ToString(CultureInfo.InvariantCulture)} experiment{(all.Count == 1 ? "" : "s")}");
        return Cli.Ok;
    }

    // ---- describe ------------------------------------------------------------------------------------------

    public static int Describe(RunnerContext context, ParsedArguments args)
    {
        var info = context.Catalog.Require(args.Positionals[0], "describe");
        context.Out.Write(DescribeText(info));
        return Cli.Ok;
    }

    public static string DescribeText(ExperimentInfo info)
    {
        var sb = new StringBuilder();
        sb.AppendLine(info.Name);
        if (info.Paper is { } paper) sb.AppendLine($"  paper:      {paper}");
        if (info.SourcePath is { } source) sb.AppendLine($"  source:     {source}");
        sb.AppendLine($"  epochs:     {info.Epochs.ToString(CultureInfo.InvariantCulture)}");
        sb.AppendLine($"  seeds:      {(info.Seeds.Count == 0 ? "(none declared: 0)" : string.Join(", ", info.Seeds.Select(s => s.ToString(CultureInfo.InvariantCulture))))}");
        if (info.DependsOn.Count > 0) sb.AppendLine($"  depends on: {string.Join(", ", info.DependsOn)}");

        sb.AppendLine().AppendLine("models");
        if (info.Models.Count > 0)
        {
            var roleWidth = info.Models.Max(m => m.Role.Length) + 2;
            var nameWidth = info.Models.Max(m => m.Name.Length) + 2;
            var typeWidth = info.Models.Max(m => ExperimentText.Model(m).Length) + 2;
            foreach (var m in info.Models)
                sb.AppendLine($"  {m.Role.PadRight(roleWidth)}{m.Name.PadRight(nameWidth)}{ExperimentText.Model(m).PadRight(typeWidth)}weights: {ExperimentText.Weights(info, m)}");
        }

        sb.AppendLine().AppendLine("loss");
        for (var i = 0; i < info.LossTerms.Count; i++)
        {
            var t = info.LossTerms[i];
            sb.Append(i == 0 ? "  total = " : "        + ").Append(ExperimentText.Term(t)).Append("   [").Append(t.Name).Append(']');
            if (t.Schedule is { } schedule && !string.IsNullOrWhiteSpace(schedule)) sb.Append("  schedule: ").Append(schedule.Trim());
            sb.AppendLine();
        }
        if (info.LossTerms.Count == 0) sb.AppendLine("  (no loss terms)");

        if (info.Settings.Count > 0)
        {
            sb.AppendLine().AppendLine("settings a run may override (run ... --set KEY=VALUE)");
            var keyWidth = info.Settings.Max(x => x.Key.Length) + 2;
            var valueWidth = info.Settings.Max(x => x.Declared.Length) + 2;
            foreach (var x in info.Settings)
            {
                var tied = x.TiedTo is { Count: > 0 } t ? $"; set together with {string.Join(", ", t)}" : "";
                sb.AppendLine($"  {x.Key.PadRight(keyWidth)}{x.Declared.PadRight(valueWidth)}{x.Meaning}: {x.Expected()}{tied}");
            }
        }

        sb.AppendLine().AppendLine("configuration (resolved)");
        foreach (var line in info.Configuration.TrimEnd().Split('\n')) sb.Append("  ").AppendLine(line.TrimEnd('\r'));
        return sb.ToString();
    }

    // ---- check ---------------------------------------------------------------------------------------------

    public static int Check(RunnerContext context, ParsedArguments args)
    {
        var o = context.Out;
        var targets = args.Positionals.Count == 0 ? context.Catalog.All : args.Positionals.Distinct().Select(n => context.Catalog.Require(n, "check")).ToList();
        if (targets.Count == 0)
        {
            o.WriteLine("nothing to check: no experiments are registered");
            return Cli.Ok;
        }
        var device = args.String("--device") ?? "auto";
        Validate(new TrainOptions { Device = device }, "check");
        var scratch = Path.Combine(Path.GetTempPath(), "distill-check-" + Guid.NewGuid().ToString("N")[..12]);
        var failures = 0;
        var skipped = 0;
        var width = targets.Max(t => t.Name.Length) + 2;
        try
        {
            foreach (var info in targets)
            {
                o.Write($"check {info.Name.PadRight(width)}");
                o.Flush();
                var options = new TrainOptions
                {
                    DryRun = true,
                    // Each its own root: a check never sees another experiment's dry-run weights.
                    OutputRoot = Path.Combine(scratch, RunDirectory.SanitizeName(info.Name)),
                    Progress = ProgressMode.None,
                    Seed = info.Seeds.Count > 0 ? info.Seeds[0] : 0,
                    Device = device,
                };
                var clock = Stopwatch.StartNew();
                try
                {
                    info.Run(options);
                    o.WriteLine($"ok ({Format.Duration(clock.Elapsed)})");
                }
                catch (DatasetException e) when (DataAbsent(e))
                {
                    // Real data that is not on this machine (nothing is downloaded): not a fault of the experiment.
                    skipped++;
                    o.WriteLine("skipped: its data is not on this machine");
                    o.WriteLine($"    {e.Message}");
                }
                catch (Exception e)
                {
                    failures++;
                    o.WriteLine("FAILED");
                    var kind = e is DistillRuntimeException or TorchException or ArgumentException or DatasetException ? "" : $"{e.GetType().Name}: ";
                    foreach (var line in (kind + e.Message).Split('\n')) o.WriteLine($"    {line.TrimEnd('\r')}");
                }
            }
        }
        finally
        {
            try
            {
                if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                o.WriteLine($"(could not remove the scratch directory {scratch}: {e.Message})");
            }
        }
        o.WriteLine($"{targets.Count.ToString(CultureInfo.InvariantCulture)} checked: {(targets.Count - failures - skipped).ToString(CultureInfo.InvariantCulture)} ok, {failures.ToString(CultureInfo.InvariantCulture)} failed"
            + (skipped > 0 ? $", {skipped.ToString(CultureInfo.InvariantCulture)} skipped (their data is not on this machine)" : ""));
        return failures > 0 ? Cli.Failed : Cli.Ok;
    }

    /// <summary>
    /// Whether a data set failed because the file or directory it names does not exist at all (a real data set
    /// that was never put on this machine), as opposed to data that is present but bad or incomplete.
    /// </summary>
    public static bool DataAbsent(DatasetException e) =>
        e.Path is { Length: > 0 } path && !File.Exists(path) && !Directory.Exists(path);

    // ---- run -----------------------------------------------------------------------------------------------

    public static int Run(RunnerContext context, ParsedArguments args)
    {
        var info = context.Catalog.Require(args.Positionals[0], "run");
        if (args.Has("--seed") && args.Has("--seeds"))
            throw new UsageException("give --seed or --seeds, not both", "run");
        var seeds = args.LongList("--seeds") ?? [args.Long("--seed") ?? (info.Seeds.Count > 0 ? info.Seeds[0] : 0)];
        var quick = args.Has("--quick");
        var resume = args.Has("--resume") ? ResumeOption.Parse(args.String("--resume") ?? "latest") : ResumeOption.None;
        if (resume.Kind == ResumeKind.Path) resume = ResumeOption.From(Path.GetFullPath(resume.Path!, context.WorkingDirectory));
        if (resume.Kind != ResumeKind.None && seeds.Count > 1)
            throw new UsageException("--resume continues one run: give one seed", "run");
        var runName = args.String("--run-name");
        var options = new TrainOptions
        {
            Epochs = args.Int("--epochs", 1),
            Device = args.String("--device") ?? "auto",
            OutputRoot = OutputRoot(context, args, quick),
            Resume = resume,
            Quick = quick,
            BatchSize = args.Int("--batch-size", 1),
            LearningRate = args.PositiveDouble("--lr"),
            MaxBatchesPerEpoch = args.Int("--max-batches", 1),
            Threads = args.Int("--threads", 1),
            Progress = ProgressOption(args),
            Distributed = DistributedEnvironment(),
            SyncBatchNorm = !args.Has("--no-sync-batchnorm"),
            DistributedTimeout = args.Int("--dist-timeout", 1) is { } seconds ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromMinutes(30),
            DistributedBackend = args.String("--dist-backend") is { } backend
                ? torch.distributed.ParseBackend(backend) ?? throw new UsageException($"--dist-backend expects gloo or nccl, got '{backend}'", "run")
                : null,
            MemoryFormat = args.String("--memory-format") is { } format
                ? PrecisionNames.ParseMemoryFormat(format) ?? throw new UsageException($"--memory-format expects contiguous or channels_last, got '{format}'", "run")
                : null,
            Precision = args.String("--precision") is { } precision
                ? PrecisionNames.ParsePrecision(precision) ?? throw new UsageException($"--precision expects fp32, bf16 or fp16, got '{precision}'", "run")
                : null,
        };
        if (seeds.Count > 1 && options.Distributed is not null)
            throw new UsageException("a rank of a data-parallel job (WORLD_SIZE is set) trains one seed: start the job once per seed, or use --nproc, which does", "run");
        // --set: overrides of declared values, each checked against the rule the generator checked the file with.
        if (args.All("--set").Count > 0)
        {
            try
            {
                options = SettingOverrides.Apply(info, options, args.All("--set"));
            }
            catch (SettingException e)
            {
                throw new UsageException(e.Message, "run");
            }
        }
        var trainer = new Trainer(context.Catalog, context.Out, context.CommandText);
        if (args.Int("--nproc", 1) is > 1 and var nproc)
        {
            if (options.Distributed is not null)
                throw new UsageException("--nproc starts the ranks itself; this process is already one rank of a job (WORLD_SIZE is set)", "run");
            return Launcher.Run(context, trainer, info, args, options, seeds, runName, nproc);
        }
        var runs = new List<TrainResult>();
        foreach (var seed in seeds)
        {
            var seeded = options with
            {
                Seed = seed,
                RunName = runName is null ? null : seeds.Count > 1 ? $"{runName}-s{seed.ToString(CultureInfo.InvariantCulture)}" : runName,
            };
            Validate(seeded, "run");
            var result = trainer.Train(info, seeded);
            if (seeded.Distributed is { Rank: > 0 }) continue;   // rank 0 reports the run
            Trainer.Print(context.Out, result);
            runs.Add(result);
        }
        if (runs.Count > 1)
        {
            context.Out.WriteLine($"{runs.Count.ToString(CultureInfo.InvariantCulture)} runs:");
            foreach (var (seed, result) in seeds.Zip(runs))
                context.Out.WriteLine($"  seed {seed.ToString(CultureInfo.InvariantCulture)}: best {(result.Best is { } b ? Format.Metric(b) : "-")}  {result.RunPath}");
        }
        return Cli.Ok;
    }

    /// <summary>The data-parallel job this process was started in (PyTorch's launcher variables), or null.</summary>
    private static torch.distributed.Environment? DistributedEnvironment()
    {
        try
        {
            return torch.distributed.Environment.Read();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message, "run");
        }
    }

    // ---- report --------------------------------------------------------------------------------------------

    public static int Report(RunnerContext context, ParsedArguments args)
    {
        var o = context.Out;
        var suite = SuiteFile.Load(SuiteFile.Locate(args.Positionals[0], context.WorkingDirectory));
        var unknown = suite.Entries.Where(e => context.Catalog.Find(e.Experiment) is null).ToList();
        if (unknown.Count > 0)
            throw new UsageException(string.Join("\n", unknown.Select(e =>
                $"{suite.Path}:{e.Line.ToString(CultureInfo.InvariantCulture)}: entry '{e.Label}': {context.Catalog.UnknownMessage(e.Experiment)}")), "report");

        var quick = args.Has("--quick");
        var collect = args.Has("--collect");
        var seedOverride = args.LongList("--seeds");
        var root = OutputRoot(context, args, quick);
        var template = new TrainOptions
        {
            Device = args.String("--device") ?? "auto",
            OutputRoot = root,
            Quick = quick,
            QuickEpochs = suite.QuickEpochs,
            QuickBatches = suite.QuickBatches,
            Progress = ProgressOption(args),
            // A run of the report that was interrupted continues where it stopped.
            Resume = ResumeOption.Latest,
        };
        Validate(template, "report");

        var trainer = new Trainer(context.Catalog, o, context.CommandText);
        var results = new Dictionary<SuiteEntry, EntryResult>();
        o.WriteLine($"{suite.Title}: {suite.Entries.Count.ToString(CultureInfo.InvariantCulture)} entries{(quick ? ", quick" : "")}, runs under {root}");
        foreach (var entry in RunOrder(suite.Entries, context.Catalog))
        {
            var info = context.Catalog.Find(entry.Experiment)!;
            var seeds = seedOverride
                ?? (quick && suite.QuickSeeds.Count > 0 ? suite.QuickSeeds
                : suite.Seeds.Count > 0 ? suite.Seeds
                : info.Seeds.Count > 0 ? info.Seeds
                : [0L]);
            var runs = new List<SeedResult>();
            var missing = new List<long>();
            var failed = new Dictionary<long, string>();
            foreach (var seed in seeds)
            {
                var options = template with { Seed = seed };
                var wanted = RunSettings.From(info, options);
                var where = $"{entry.Label} (seed {seed.ToString(CultureInfo.InvariantCulture)})";
                if (RunStore.FindFinished(root, wanted) is { } found)
                {
                    o.WriteLine($"{where}: finished run {found}");
                    runs.Add(MetricReader.Read(found, seed, suite));
                    continue;
                }
                if (collect)
                {
                    o.WriteLine($"{where}: no finished run");
                    missing.Add(seed);
                    continue;
                }
                var name = RunStore.ChooseName(root, wanted, out var resumes);
                if (resumes) o.WriteLine($"{where}: resuming the unfinished run {name}");
                try
                {
                    var result = trainer.Train(info, options with { RunName = name });
                    runs.Add(MetricReader.Read(result.RunPath, seed, suite));
                }
                catch (Exception e)
                {
                    // One failed run does not lose the others: it is reported, and the exit code says so.
                    var expected = e is DistillRuntimeException or TorchException or ArgumentException or IOException or DatasetException;
                    failed[seed] = (expected ? "" : e.GetType().Name + ": ") + e.Message.Split('\n')[0];
                    // An unexpected exception is a bug somewhere: its stack trace is worth having.
                    context.Error.WriteLine($"{where}: FAILED: {(expected ? e.Message : e.ToString())}");
                }
            }
            results[entry] = new EntryResult(entry, seeds, runs, missing, failed, suite.Anchors.FirstOrDefault(a => a.Label == entry.Label));
        }

        var data = new ReportData(suite, quick, root, suite.Entries.Select(e => results[e]).ToList(), context.CommandText, context.Now());
        var files = ReportWriter.Write(data, suite.ReportDirectory(quick));
        o.WriteLine();
        var width = data.Entries.Max(e => e.Entry.Label.Length) + 2;
        foreach (var e in data.Entries)
            o.WriteLine($"  {e.Entry.Label.PadRight(width)}{ReportWriter.MeanCell(suite, e)}{(e.Anchor is { } a ? $"   (published {a.Value})" : "")}");
        foreach (var line in ReportWriter.ConsoleVerdicts(data)) o.WriteLine(line);
        o.WriteLine($"wrote {string.Join(", ", files)}");
        var failures = data.Entries.Sum(e => e.Failed.Count);
        if (failures > 0) context.Error.WriteLine($"{failures.ToString(CultureInfo.InvariantCulture)} run{(failures == 1 ? "" : "s")} failed (see the report's Gaps)");
        return failures > 0 ? Cli.Failed : Cli.Ok;
    }

    /// <summary>
    /// The suite's entries with every entry after the entries whose experiments it depends on (directly or
    /// through other experiments), otherwise in file order: teachers are trained before their students.
    /// </summary>
    public static IReadOnlyList<SuiteEntry> RunOrder(IReadOnlyList<SuiteEntry> entries, ExperimentCatalog catalog)
    {
        HashSet<string> Closure(string experiment)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var stack = new Stack<string>([experiment]);
            while (stack.Count > 0)
                foreach (var d in catalog.Find(stack.Pop())?.DependsOn ?? [])
                    if (seen.Add(d)) stack.Push(d);
            return seen;
        }
        var needs = entries.ToDictionary(e => e, e => Closure(e.Experiment));
        var ordered = new List<SuiteEntry>();
        var left = entries.ToList();
        while (left.Count > 0)
        {
            // The first entry none of whose dependencies is still waiting; in a cycle, the first one (the run reports the cycle).
            var next = left.FirstOrDefault(e => !left.Any(other => other != e && other.Experiment != e.Experiment && needs[e].Contains(other.Experiment))) ?? left[0];
            ordered.Add(next);
            left.Remove(next);
        }
        return ordered;
    }

    // ---- export ----------------------------------------------------------------------------------------------

    public static int Export(RunnerContext context, ParsedArguments args)
    {
        var info = context.Catalog.Require(args.Positionals[0], "export");
        var to = args.String("--to") ?? throw new UsageException("export needs --to FILE: the .safetensors file to write", "export");
        var root = OutputRoot(context, args, quick: false);
        string source;
        if (args.String("--run") is { } run)
        {
            var named = Path.Combine(root, RunDirectory.SanitizeName(info.Name), run);
            source = Directory.Exists(named) ? named : Path.GetFullPath(run, context.WorkingDirectory);
        }
        else
        {
            source = TeacherWeights.FindRun(info.Name, root)
                ?? throw new DistillRuntimeException($"experiment '{info.Name}' has no finished run trained as declared under {root}; train it (run {info.Name}) or name one with --run");
        }
        var destination = Path.GetFullPath(to, context.WorkingDirectory);
        var exported = Checkpoint.ExportModule(source, TeacherWeights.StudentModule, destination);
        context.Out.WriteLine($"exported {info.Name}'s model from {exported.StatePath} (epoch {exported.Epoch.ToString(CultureInfo.InvariantCulture)}, step {exported.GlobalStep.ToString(CultureInfo.InvariantCulture)}) to {destination}");
        return Cli.Ok;
    }

    // ---- shared --------------------------------------------------------------------------------------------

    /// <summary>--out, or <c>runs</c> (<c>runs-quick</c> for quick runs, so a smoke-test teacher never feeds a real student), from the working directory.</summary>
    private static string OutputRoot(RunnerContext context, ParsedArguments args, bool quick) =>
        Path.GetFullPath(args.String("--out") ?? (quick ? RunDirectory.DefaultRoot + "-quick" : RunDirectory.DefaultRoot), context.WorkingDirectory);

    private static ProgressMode ProgressOption(ParsedArguments args) => args.Choice("--progress", "auto", "rich", "plain", "none") switch
    {
        "rich" => ProgressMode.Rich,
        "plain" => ProgressMode.Plain,
        "none" => ProgressMode.None,
        _ => ProgressMode.Auto,
    };

    /// <summary>TrainOptions' own checks (a device name, a run name), as usage errors.</summary>
    private static void Validate(TrainOptions options, string command)
    {
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message, command);
        }
    }
}

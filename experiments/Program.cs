// The experiments' entry point. The generator gives every experiment of this assembly a module initializer
// that registers it, so the registry holds them all by the time Main runs.
Console.OutputEncoding = System.Text.Encoding.UTF8;
return Distill.Experiments.Runner.Cli.Run(args, ExperimentRegistry.All, Console.Out, Console.Error);

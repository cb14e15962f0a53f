using Spectre.Console;

namespace Distill.Runtime.Tests;

public class ProgressTests
{
    [Fact]
    public void Plain_progress_writes_at_most_one_line_per_interval_and_one_per_epoch()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        using var progress = new PlainProgressReporter(output, TimeSpan.FromSeconds(10), clock);
        progress.StartEpoch(1, 3, batchesPerEpoch: 20);
        for (var i = 0; i < 20; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            progress.Advance(1, 32, new Dictionary<string, double> { ["loss"] = 2.0 - i * 0.05 });
        }
        progress.EndEpoch(new Dictionary<string, double> { ["loss"] = 1.5, ["val/top1"] = 0.4213 });
        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            // After 10 s: 10 of 20 batches, 320 samples; 50 batches left in the run at 1 s each.
            "epoch 1/3  batch 10/20 (50%)  32.0 samples/s  ETA 0:00:50  loss 1.55",
            // After 20 s.
            "epoch 1/3  batch 20/20 (100%)  32.0 samples/s  ETA 0:00:40  loss 1.05",
            "epoch 1/3 done: 20 batches, 640 samples in 0:00:20  32.0 samples/s  ETA 0:00:40  loss 1.5  val/top1 0.4213",
        ], lines);
    }

    [Fact]
    public void Plain_progress_without_a_batch_count_estimates_from_the_previous_epoch()
    {
        var clock = new ManualClock();
        var output = new StringWriter();
        using var progress = new PlainProgressReporter(output, TimeSpan.FromHours(1), clock);
        progress.StartEpoch(1, 2, batchesPerEpoch: null);
        clock.Advance(TimeSpan.FromSeconds(90));
        progress.Advance(45, 4500);
        progress.EndEpoch();
        progress.StartEpoch(2, 2, batchesPerEpoch: null);
        clock.Advance(TimeSpan.FromSeconds(30));
        progress.Advance(15, 1500);
        progress.Message("checkpoint saved");
        progress.EndEpoch();
        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            "epoch 1/2 done: 45 batches, 4500 samples in 0:01:30  50.0 samples/s",
            "checkpoint saved",
            "epoch 2/2 done: 15 batches, 1500 samples in 0:00:30  50.0 samples/s  ETA 0:01:00",
        ], lines);
    }

    [Fact]
    public void The_live_display_runs_on_an_interactive_console_and_keeps_the_epoch_lines()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 200; // no wrapping of the lines the test looks for
        var clock = new ManualClock();
        using (var progress = new SpectreProgressReporter(console, clock))
        {
            Assert.False(progress.Degraded);
            progress.StartEpoch(1, 1, 4);
            for (var i = 0; i < 4; i++)
            {
                clock.Advance(TimeSpan.FromSeconds(1));
                progress.Advance(1, 8, new Dictionary<string, double> { ["loss"] = 1.0 });
            }
            progress.EndEpoch(new Dictionary<string, double> { ["loss"] = 0.75 });
            progress.Message("a [bracketed] message");
        }
        var text = output.ToString();
        Assert.Contains("epoch 1/1 done: 4 batches, 32 samples in 0:00:04  8.0 samples/s  ETA 0:00:00  loss 0.75", text);
        Assert.Contains("a [bracketed] message", text);
    }

    [Fact]
    public void Plain_and_none_modes_never_need_a_terminal()
    {
        var output = new StringWriter();
        using (var plain = ProgressReporter.Create(ProgressMode.Plain, TimeSpan.Zero, output))
        {
            Assert.IsType<PlainProgressReporter>(plain);
            plain.StartEpoch(1, 1, 2);
            plain.Advance(1, 4);
            plain.EndEpoch();
        }
        Assert.Contains("epoch 1/1  batch 1/2 (50%)", output.ToString());
        using var none = ProgressReporter.Create(ProgressMode.None);
        none.StartEpoch(1, 1, 1);
        none.Advance(1, 1);
        none.EndEpoch();
        Assert.IsType<NullProgressReporter>(none);
    }

    [Fact]
    public void Auto_mode_falls_back_to_plain_lines_when_output_is_redirected()
    {
        // dotnet test redirects the test host's output, as CI does.
        Assert.True(Console.IsOutputRedirected);
        Assert.False(ProgressReporter.IsInteractiveConsole());
        var output = new StringWriter();
        using var auto = ProgressReporter.Create(ProgressMode.Auto, TimeSpan.FromSeconds(5), output);
        Assert.IsType<PlainProgressReporter>(auto);
    }
}

using static Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Tests;

/// <summary>The README's example compiles and does what it says.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void The_readme_training_loop_trains_and_saves_a_state_dict_that_loads_back()
    {
        var path = Path.Combine(Path.GetTempPath(), $"readme-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var generator = new Generator(0);
            using var model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4));
            using var optimizer = torch.optim.SGD(model.parameters(), lr: 0.1, momentum: 0.9);
            using var data = torch.NewDisposeScope();
            var x = torch.randn([8, 16], generator: generator);
            var y = torch.randint(0, 4, [8], generator: generator);
            double first = double.NaN, last = double.NaN;
            for (var step = 0; step < 100; step++)
            {
                using var scope = torch.NewDisposeScope();
                optimizer.zero_grad();
                var loss = cross_entropy(model.call(x), y);
                loss.backward();
                optimizer.step();
                if (step == 0) first = loss.item<float>();
                last = loss.item<float>();
            }
            Assert.True(last < first * 0.5, $"{first} -> {last}");
            Safetensors.Save(path, model.state_dict());
            using var copy = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4));
            copy.load_state_dict(Safetensors.Load(path));
            Assert.True(copy.call(x).equal(model.call(x)));
        }
        finally { File.Delete(path); }
    }
}

namespace Distill.Torch.Tests;

[Collection(SequentialCollection.Name)]
public class DisposeScopeTests
{
    [Fact]
    public void A_scope_frees_what_was_created_inside_it_except_what_was_moved_out()
    {
        var before = SequentialCollection.SettledLiveCount();
        Tensor kept, outer;
        using (var s1 = torch.NewDisposeScope())
        {
            outer = torch.ones([2]);
            using (var s2 = torch.NewDisposeScope())
            {
                var a = torch.ones([3]);
                var b = a * 2 + 1;
                kept = s2.MoveToOuter(b);
                Assert.Equal(2, s2.Count + 0 * a.numel()); // a and the temporary a * 2
            }
            Assert.False(kept.IsDisposed);
            Assert.Equal([3f, 3f, 3f], kept.ToArray<float>());
        }
        Assert.True(kept.IsDisposed); // moved to s1, freed with it
        Assert.True(outer.IsDisposed);
        Assert.Equal(before, Tensor.LiveCount);
    }

    [Fact]
    public void A_tensor_detached_from_scopes_survives_them()
    {
        var before = SequentialCollection.SettledLiveCount();
        Tensor survivor;
        using (torch.NewDisposeScope())
        {
            survivor = torch.zeros([4]).DetachFromDisposeScope();
        }
        Assert.False(survivor.IsDisposed);
        Assert.Equal(before + 1, Tensor.LiveCount);
        survivor.Dispose();
        Assert.Equal(before, Tensor.LiveCount);
    }

    [Fact]
    public void DisposeEverything_frees_within_a_loop()
    {
        var before = SequentialCollection.SettledLiveCount();
        using var scope = torch.NewDisposeScope();
        var x = torch.ones([8]).DetachFromDisposeScope();
        for (var i = 0; i < 100; i++)
        {
            _ = (x * i + 1).sum();
            scope.DisposeEverything();
        }
        Assert.Equal(before + 1, Tensor.LiveCount);
        x.Dispose();
    }

    [Fact]
    public void Gradients_read_inside_a_scope_are_freed_with_it_but_not_the_gradient_itself()
    {
        var before = SequentialCollection.SettledLiveCount();
        var x = torch.ones([3], requires_grad: true);
        using (torch.NewDisposeScope())
        {
            (x * 2).sum().backward();
            Assert.Equal([2f, 2f, 2f], x.grad!.ToArray<float>());
        }
        using (torch.NewDisposeScope()) Assert.Equal([2f, 2f, 2f], x.grad!.ToArray<float>());
        x.Dispose();
        Assert.Equal(before, Tensor.LiveCount);
    }
}

namespace Distill.Torch.Tests;

public class ErrorTests
{
    [Theory]
    [InlineData(ErrorCategory.Runtime, "debug runtime error")]
    [InlineData(ErrorCategory.Index, "debug index error")]
    [InlineData(ErrorCategory.Value, "debug value error")]
    [InlineData(ErrorCategory.Type, "debug type error")]
    [InlineData(ErrorCategory.NotImplemented, "debug not-implemented error")]
    [InlineData(ErrorCategory.OutOfMemory, "bad_alloc")]
    [InlineData(ErrorCategory.Unknown, "unknown C++ exception")]
    public void Every_cpp_exception_category_crosses_the_boundary(ErrorCategory category, string message)
    {
        var e = Assert.Throws<TorchException>(() => Native.NativeMethods.Check(Native.NativeMethods.dst_debug_throw((int)category)));
        Assert.Equal(category, e.Category);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Shape_mismatch_is_a_TorchException_with_libtorchs_message()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => torch.ones([2, 3]) + torch.ones([4]));
        Assert.Contains("must match the size of tensor b", e.Message);
    }

    [Fact]
    public void Dtype_mismatch_in_place_is_a_TorchException()
    {
        using var scope = torch.NewDisposeScope();
        var ints = torch.ones([3], ScalarType.Int64);
        var e = Assert.Throws<TorchException>(() => ints.add_(torch.ones([3]) * 0.5));
        Assert.Contains("can't be cast to the desired output type Long", e.Message);
    }

    [Fact]
    public void Out_of_range_dimension_is_an_index_error()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => torch.ones([2, 3]).flatten(5));
        Assert.Equal(ErrorCategory.Index, e.Category);
        Assert.Contains("Dimension out of range", e.Message);
    }

    [Fact]
    public void Invalid_view_is_a_TorchException()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => torch.ones([2, 3]).view(4, 2));
        Assert.Contains("is invalid for input of size 6", e.Message);
    }

    [Fact]
    public void Backward_of_a_non_scalar_without_gradient_is_a_TorchException()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.ones([3], requires_grad: true);
        var e = Assert.Throws<TorchException>(() => (x * 2).backward());
        Assert.Contains("grad can be implicitly created only for scalar outputs", e.Message);
    }

    [Fact]
    public void Using_a_disposed_tensor_is_an_ObjectDisposedException()
    {
        var t = torch.ones([2]);
        t.Dispose();
        Assert.True(t.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => t.ToArray<float>());
        Assert.Throws<ObjectDisposedException>(() => t + 1);
        Assert.Equal("Tensor(disposed)", t.ToString());
        t.Dispose(); // disposing twice is harmless
    }

    [Fact]
    public void A_library_that_cannot_be_loaded_is_a_TorchException_that_says_why_and_how_to_fix_it()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-dir", "libdistill_torch.so");
        var notElf = Path.GetTempFileName();
        try
        {
            File.WriteAllText(notElf, "not a shared library");
            var e = Assert.Throws<TorchException>(() => Native.NativeLibraryLoader.LoadFirst([missing, notElf]));
            Assert.Contains($"{missing}: not found", e.Message);
            Assert.Contains(notElf, e.Message);
            Assert.Contains("libtorch-dev", e.Message);
            Assert.Contains("scripts/install-deps.sh", e.Message);
        }
        finally { File.Delete(notElf); }
    }

    [Fact]
    public void Item_of_a_multi_element_tensor_is_a_TorchException()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Throws<TorchException>(() => torch.ones([2]).item<float>());
    }
}

using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

// In-place random fills (native/src/creation.cpp), the primitives of torch.nn.init.
public partial class Tensor
{
    /// <summary>Fills with values drawn uniformly from [from, to).</summary>
    public Tensor uniform_(double from = 0, double to = 1, Generator? generator = null)
    {
        Check(dst_uniform_(Handle, from, to, Generator.HandleOf(generator)));
        GC.KeepAlive(generator);
        return this;
    }

    /// <summary>Fills with values drawn from N(mean, std²).</summary>
    public Tensor normal_(double mean = 0, double std = 1, Generator? generator = null)
    {
        Check(dst_normal_(Handle, mean, std, Generator.HandleOf(generator)));
        GC.KeepAlive(generator);
        return this;
    }
}

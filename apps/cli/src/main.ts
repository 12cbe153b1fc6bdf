console.log("lazypull")
